#' Versions of R and the packages harmonybridge uses (NA when absent).
#' @noRd
hb_versions <- function(packages = c("Matrix", "SeuratObject", "Seurat", "SingleCellExperiment", "harmony")) {
  out <- vapply(packages, function(p) {
    if (requireNamespace(p, quietly = TRUE)) as.character(utils::packageVersion(p)) else NA_character_
  }, character(1))
  c(R = as.character(getRversion()), out)
}

#' Which build of R harmony this R loads: its version, the library it comes from, and whether it
#' computes in single or double precision. harmony 2.x chooses the precision when it is compiled
#' (its configure script uses float where the BLAS has single-precision routines, else double);
#' the choice is read from the BLAS routines its shared library links (sgemm_ ... or dgemm_ ...).
#' @noRd
hb_harmony_build <- function() {
  if (!requireNamespace("harmony", quietly = TRUE)) {
    return(list(version = NA_character_, library = NA_character_, precision = NA_character_))
  }
  so <- system.file("libs", paste0("harmony", .Platform$dynlib.ext), package = "harmony")
  precision <- "unknown"
  if (nzchar(so)) {
    bytes <- readBin(so, "raw", file.size(so))
    linked <- function(prefix) {
      any(vapply(c("gemm_", "gemv_", "dot_", "syrk_"), function(f) {
        length(grepRaw(c(as.raw(0), charToRaw(paste0(prefix, f)), as.raw(0)), bytes, fixed = TRUE)) > 0
      }, logical(1)))
    }
    single <- linked("s")
    double <- linked("d")
    precision <- if (single && !double) "single" else if (double && !single) "double" else if (single) "single" else "unknown"
  }
  list(
    version = as.character(utils::packageVersion("harmony")),
    library = dirname(find.package("harmony")),
    precision = precision
  )
}
