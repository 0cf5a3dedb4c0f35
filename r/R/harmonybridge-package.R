#' harmonybridge: Harmony by harmonypy from R, and engine cross-checks
#'
#' For R users: [RunHarmonyPy()] runs Harmony with the Python package harmonypy on a Seurat
#' object or a matrix, with [harmony::RunHarmony()]'s arguments; [CrossCheckHarmony()]
#' compares harmonypy with R's harmony on a Seurat object; [harmonybridge_python()] shows
#' (and sets) which Python they use.
#'
#' The package's other functions (`hb_*`) are internal: the Python package harmonybridge
#' calls them through rpy2 (`asNamespace("harmonybridge")`) to build and read Seurat objects
#' and to run R's harmony.
#' @keywords internal
"_PACKAGE"
