# Build real Seurat objects the way users build them, with Seurat itself, for the round-trip tests.
#
#   Rscript build_seurat_objects.R INPUT_DIR OUTPUT_DIR
#
# INPUT_DIR holds counts.mtx (genes x cells, integer counts), genes.txt, cells.txt and meta.tsv
# (cells x columns, first column the cell name), written by the tests from ../shared/data. Writes
# into OUTPUT_DIR, one .rds each:
#   standard.rds  NormalizeData, FindVariableFeatures, ScaleData, RunPCA, FindNeighbors,
#                 FindClusters, RunUMAP; a Misc entry and a @tools entry (CalculateBarcodeInflections)
#   idents.rds    standard.rds with hand labels from RenameIdents (identities differ from clusters)
#   sct.rds       600 cells: SCTransform, then PCA/neighbours/clusters/UMAP on SCT, plus an ADT-like
#                 second assay (CLR, its own PCA "apca" and graphs ADT_nn/ADT_snn)
#   v5split.rds   (SeuratObject >= 5 only) the RNA assay split() by donor into layers, the pipeline
#                 run on the split layers, layers left split as before IntegrateLayers
# and built.txt listing them. Everything is seeded; no network.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2L) stop("usage: Rscript build_seurat_objects.R INPUT_DIR OUTPUT_DIR", call. = FALSE)
input <- args[[1]]
output <- args[[2]]
suppressPackageStartupMessages({
  library(Seurat)
  library(Matrix)
})
options(future.globals.maxSize = 2e9)
v5 <- packageVersion("SeuratObject") >= "5.0.0"

counts <- methods::as(Matrix::readMM(file.path(input, "counts.mtx")), "CsparseMatrix")
rownames(counts) <- readLines(file.path(input, "genes.txt"))
colnames(counts) <- readLines(file.path(input, "cells.txt"))
meta <- utils::read.delim(file.path(input, "meta.tsv"), row.names = 1, check.names = FALSE,
                          stringsAsFactors = TRUE)
stopifnot(identical(rownames(meta), colnames(counts)))

save <- function(obj, name) {
  saveRDS(obj, file.path(output, paste0(name, ".rds")))
  cat(name, "\n", file = file.path(output, "built.txt"), append = TRUE)
}

pipeline <- function(obj, dims = 1:20) {
  obj <- NormalizeData(obj, verbose = FALSE)
  obj <- FindVariableFeatures(obj, nfeatures = 1000, verbose = FALSE)
  obj <- ScaleData(obj, verbose = FALSE)
  obj <- RunPCA(obj, npcs = 30, verbose = FALSE, seed.use = 42)
  obj <- FindNeighbors(obj, dims = dims, verbose = FALSE)
  obj <- FindClusters(obj, resolution = 0.8, verbose = FALSE, random.seed = 0)
  RunUMAP(obj, dims = dims, verbose = FALSE, seed.use = 42)
}

# --- standard ---------------------------------------------------------------------------------
set.seed(1)
std <- CreateSeuratObject(counts = counts, meta.data = meta, project = "pbmc", min.cells = 3)
std <- pipeline(std)
std <- CalculateBarcodeInflections(std)          # a @tools entry, as Seurat writes one
Misc(std, slot = "study") <- list(source = "symphony pbmcs", note = "built by build_seurat_objects.R")
save(std, "standard")

# --- hand labels ------------------------------------------------------------------------------
idents <- std
clusters <- levels(Idents(idents))
labels <- stats::setNames(paste0("type_", rev(seq_along(clusters))), clusters)
labels[1:2] <- c("T cells", "B/NK")                # spaces and a slash, as hand labels have
idents <- do.call(RenameIdents, c(list(object = idents), as.list(labels)))
save(idents, "idents")

# --- SCTransform and a second assay -----------------------------------------------------------
set.seed(2)
keep <- colnames(counts)[seq(1, ncol(counts), by = 2)][1:600]
sct <- CreateSeuratObject(counts = counts[, keep], meta.data = meta[keep, , drop = FALSE], project = "pbmc_sct")
sct <- suppressWarnings(SCTransform(sct, verbose = FALSE, seed.use = 42))
sct <- RunPCA(sct, npcs = 20, verbose = FALSE, seed.use = 42)
sct <- FindNeighbors(sct, dims = 1:15, verbose = FALSE)
sct <- FindClusters(sct, verbose = FALSE, random.seed = 0)
sct <- RunUMAP(sct, dims = 1:15, verbose = FALSE, seed.use = 42)
# ADT-like: 12 surface markers' counts, with a seeded background, under antibody-style names
markers <- intersect(c("CD3E", "CD4", "CD8A", "CD14", "FCGR3A", "MS4A1", "CD19", "NCAM1", "IL7R",
                       "CD79A", "LYZ", "NKG7", "GNLY", "CST3", "PTPRC", "HLA-DRA"), rownames(counts))[1:12]
adt <- as.matrix(counts[markers, keep]) * 20 + matrix(stats::rpois(length(markers) * length(keep), 5), length(markers))
rownames(adt) <- paste0("ADT-", markers)
sct[["ADT"]] <- CreateAssayObject(counts = methods::as(adt, "CsparseMatrix"))
sct <- NormalizeData(sct, assay = "ADT", normalization.method = "CLR", margin = 2, verbose = FALSE)
sct <- ScaleData(sct, assay = "ADT", verbose = FALSE)
sct <- RunPCA(sct, assay = "ADT", features = rownames(adt), npcs = 8, reduction.name = "apca",
              reduction.key = "apca_", verbose = FALSE, seed.use = 42)
sct <- FindNeighbors(sct, reduction = "apca", dims = 1:8, assay = "ADT", verbose = FALSE)
DefaultAssay(sct) <- "SCT"
save(sct, "sct")

# --- Seurat 5: split layers -------------------------------------------------------------------
if (v5) {
  set.seed(3)
  sp <- CreateSeuratObject(counts = counts, meta.data = meta, project = "pbmc_v5", min.cells = 3)
  sp[["RNA"]] <- split(sp[["RNA"]], f = sp$donor)
  sp <- pipeline(sp)
  save(sp, "v5split")
}
