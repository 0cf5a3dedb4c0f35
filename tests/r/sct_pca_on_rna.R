# From the SCTransform object (default assay SCT), an object whose PCA was computed on RNA, as
# users have it when they ran the log-normalized pipeline on RNA and SCTransform next to it.
# Usage: Rscript sct_pca_on_rna.R <sct.rds> <out.rds>;  Rscript sct_pca_on_rna.R --check <in.rds> <back.rds>
suppressMessages(library(Seurat))
args <- commandArgs(trailingOnly = TRUE)
if (args[[1]] == "--check") {
  a <- readRDS(args[[2]])
  b <- readRDS(args[[3]])
  stopifnot(
    identical(DefaultAssay(b), "SCT"),
    identical(DefaultAssay(b[["pca"]]), "RNA"),
    identical(Embeddings(a, "pca"), Embeddings(b, "pca")),
    identical(Loadings(a[["pca"]]), Loadings(b[["pca"]])),
    identical(Stdev(a[["pca"]]), Stdev(b[["pca"]]))
  )
  h <- harmony::RunHarmony(b, "donor", verbose = FALSE)  # RunHarmony's defaults on what came back
  stopifnot(identical(DefaultAssay(h[["harmony"]]), "RNA"))
  cat("ok\n")
  quit(save = "no")
}
o <- readRDS(args[[1]])
DefaultAssay(o) <- "RNA"
o[["pca"]] <- NULL
o[["umap"]] <- NULL
o <- NormalizeData(o, verbose = FALSE)
o <- FindVariableFeatures(o, nfeatures = 300, verbose = FALSE)
o <- ScaleData(o, verbose = FALSE)
o <- RunPCA(o, npcs = 10, verbose = FALSE, seed.use = 42)
DefaultAssay(o) <- "SCT"
stopifnot(identical(DefaultAssay(o[["pca"]]), "RNA"))
saveRDS(o, args[[2]])
