# A Seurat object whose cell names repeat (22 of 200), as old objects carry them (CIDER's pancreas
# object): cells 101..122 named c1..c22 in every slot. Saved as dup.rds, dup.RData and, with a
# PCA, dup_pca.rds in the folder given.
suppressMessages(library(Seurat))
out <- commandArgs(trailingOnly = TRUE)[1]
if (packageVersion("SeuratObject") >= "5.0.0") {
  # SeuratObject 5's validity refuses repeated cell names: such objects come from v4 (say why, make none)
  writeLines("SeuratObject 5 refuses repeated cell names (validObject); they come from v4 objects",
             file.path(out, "unsupported"))
  quit(save = "no")
}
set.seed(1)
m <- matrix(rpois(200 * 30, 2), 30, 200, dimnames = list(paste0("g", 1:30), paste0("c", 1:200)))
o <- CreateSeuratObject(m)
o$batch <- rep(c("a", "b"), each = 100)
dup <- c(paste0("c", 1:100), paste0("c", c(1:22, 123:200)))
colnames(o@assays$RNA@counts) <- dup
colnames(o@assays$RNA@data) <- dup
attr(o@meta.data, "row.names") <- dup
names(o@active.ident) <- dup
stopifnot(validObject(o), sum(duplicated(colnames(o))) == 22)
saveRDS(o, file.path(out, "dup.rds"))
save(o, file = file.path(out, "dup.RData"))
o <- NormalizeData(o, verbose = FALSE)
o <- FindVariableFeatures(o, verbose = FALSE)
o <- ScaleData(o, verbose = FALSE)
o <- RunPCA(o, npcs = 5, verbose = FALSE, approx = FALSE)
stopifnot(sum(duplicated(colnames(o))) == 22)
saveRDS(o, file.path(out, "dup_pca.rds"))
