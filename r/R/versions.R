#' Versions of R and the packages harmonybridge uses (NA when absent).
hb_versions <- function(packages = c("Matrix", "SeuratObject", "Seurat", "SingleCellExperiment", "harmony")) {
  out <- vapply(packages, function(p) {
    if (requireNamespace(p, quietly = TRUE)) as.character(utils::packageVersion(p)) else NA_character_
  }, character(1))
  c(R = as.character(getRversion()), out)
}
