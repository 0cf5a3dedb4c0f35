# R's standard calls, with their defaults, on an object harmonybridge wrote (an .rds from convert):
# harmony::RunHarmony(o, "batch") and RunHarmonyPy(o, "batch") end with ProjectDim over scale.data.
# Also: the scale.data to_seurat added is what Seurat's ScaleData makes over the same features.
# Usage: Rscript run_harmony_defaults.R <object.rds> ...
suppressMessages({
  library(Seurat)
  library(harmony)
  library(harmonybridge)
})
scale_data <- function(x) {
  if (packageVersion("SeuratObject") >= "5") LayerData(x, layer = "scale.data") else GetAssayData(x, slot = "scale.data")
}
for (path in commandArgs(trailingOnly = TRUE)) {
  o <- readRDS(path)
  sd <- scale_data(o)
  stopifnot(nrow(sd) > 0, ncol(sd) == ncol(o))
  ref <- scale_data(ScaleData(o, features = rownames(sd), verbose = FALSE))
  stopifnot(isTRUE(all.equal(as.matrix(sd), as.matrix(ref[rownames(sd), ]), tolerance = 1e-6)))
  h <- RunHarmony(o, "batch", verbose = FALSE)
  stopifnot(identical(dim(Embeddings(h, "harmony")), dim(Embeddings(o, "pca"))), nrow(Loadings(h[["harmony"]])) == nrow(sd))
  p <- RunHarmonyPy(o, "batch")
  stopifnot(identical(dim(Embeddings(p, "harmony")), dim(Embeddings(o, "pca"))), nrow(Loadings(p[["harmony"]])) == nrow(sd))
  cat(path, "ok\n")
}
