# Small helpers shared by the whole R half: the one install checker, errors, and the
# SeuratObject 4/5 differences (layer= or slot=).

`%||%` <- function(x, y) if (is.null(x)) y else x

.so <- function(name) getExportedValue("SeuratObject", name)

# How to install each package harmonybridge may use; anything else gets install.packages().
.hb_install_hints <- c(
  Matrix = "apt-get install r-cran-matrix, or in R: install.packages('Matrix')",
  SeuratObject = "apt-get install r-cran-seuratobject, or in R: install.packages('SeuratObject')",
  Seurat = "apt-get install r-cran-seurat, or in R: install.packages('Seurat')",
  harmony = "in R: install.packages('harmony')",
  reticulate = "apt-get install r-cran-reticulate, or in R: install.packages('reticulate')"
)

#' Stop, naming the package and its install command, unless every package in `packages`
#' can be loaded. `what` says who needs it ("RunHarmonyPy()"); the one install checker of
#' the R half.
#' @noRd
hb_require <- function(packages, what = NULL) {
  for (package in packages) {
    if (!requireNamespace(package, quietly = TRUE)) {
      hint <- if (package %in% names(.hb_install_hints)) .hb_install_hints[[package]] else
        sprintf("in R: install.packages('%s')", package)
      stop(sprintf(
        "%sR package '%s' is not installed; %s",
        if (is.null(what)) "" else paste0(what, " needs it: "), package, hint
      ), call. = FALSE)
    }
  }
  invisible(TRUE)
}

# cli_abort without the internal call in the message; `.envir` for cli's {} interpolation.
.hb_abort <- function(message, ..., .envir = parent.frame()) {
  cli::cli_abort(message, ..., call = NULL, .envir = .envir)
}

#' Whether the installed SeuratObject has v5 assays (Assay5, layers).
#' @noRd
hb_seurat_object_v5 <- function() {
  hb_require(c("Matrix", "SeuratObject"), "hb_seurat_object_v5()")
  utils::packageVersion("SeuratObject") >= "5.0.0"
}

# The argument that names a layer in GetAssayData()/SetAssayData(): `layer =` on
# SeuratObject 5 (where `slot =` is deprecated), `slot =` on SeuratObject 4 (which has no
# `layer =`). Use as do.call(f, c(list(x), .hb_layer_arg("data"), ...)).
.hb_layer_arg <- function(layer) {
  if (hb_seurat_object_v5()) list(layer = layer) else list(slot = layer)
}
