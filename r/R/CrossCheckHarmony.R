# CrossCheckHarmony(): harmonybridge's cross-check of the two Harmony engines, from R.

#' Cross-check harmonypy against R's harmony on a Seurat object
#'
#' Runs Harmony with both engines on the same cells and parameters, under `seeds` seeds
#' each, and compares them the way `harmonybridge.cross_check()` does in Python: the distance
#' between the engines (per-PC Pearson r, relative L2, nearest neighbours kept, ARI and NMI
#' of Leiden clusters) is set against each engine's own spread across seeds. The engines
#' agree on a metric when the between-engine gap is at most 1.5 times the worst
#' within-engine gap plus a small floor; the verdict is "agree" when every metric agrees.
#'
#' R's harmony runs in this R process ([harmony::RunHarmony()], with `set.seed()` per seed);
#' harmonypy and the comparison run in Python through reticulate (see
#' [harmonybridge_python()]). The caller's random number state is restored afterwards.
#'
#' @param object A Seurat object (SeuratObject 4 or 5) with the reduction `reduction.use`.
#' @param group.by.vars Names of the meta.data columns holding the batches.
#' @param label Optional meta.data column of cell labels (cell types), for the integration
#'   table (LISI, silhouette, ARI against the labels).
#' @param seeds Number of seeds per engine, at least 2 (the spread needs two runs).
#' @param report Optional path of an HTML report to write (figures embedded).
#' @param reduction.use,dims.use The embedding to correct, as in [RunHarmonyPy()].
#' @param theta,sigma,lambda,nclust,max_iter,ncores,.options Harmony's parameters, as in
#'   [harmony::RunHarmony()]; both engines get the same values.
#' @param seed The first seed; the others follow it.
#' @param verbose Say what runs.
#' @param python Path of the Python to use; see [harmonybridge_python()].
#' @return A list of class `HarmonyCrossCheck`: `verdict` ("agree" or "disagree"), `passed`,
#'   `agreement` (a data.frame, one row per metric: between engines, within each engine,
#'   limit, agree), `integration` (a data.frame, one row per condition), `versions`, `text`
#'   (the printed summary), `json` (everything, as JSON) and `report` (the path written, or
#'   `NULL`).
#' @seealso [RunHarmonyPy()]
#' @examples
#' \dontrun{
#' check <- CrossCheckHarmony(obj, "stim", label = "seurat_annotations", report = "check.html")
#' check$verdict
#' check$agreement
#' }
#' @export
CrossCheckHarmony <- function(object, group.by.vars, label = NULL, seeds = 3, report = NULL,
                              reduction.use = "pca", dims.use = NULL, theta = NULL, sigma = 0.1,
                              lambda = NULL, nclust = NULL, max_iter = 10, ncores = 1, .options = NULL,
                              seed = 0, verbose = TRUE, python = NULL) {
  hb_require(c("SeuratObject", "Seurat", "harmony"), "CrossCheckHarmony()")
  if (!inherits(object, "Seurat")) {
    .hb_abort("{.arg object} must be a Seurat object, not {.cls {class(object)}}.")
  }
  if (!is.numeric(seeds) || length(seeds) != 1L || is.na(seeds) || seeds < 2 || seeds != round(seeds)) {
    .hb_abort("{.arg seeds} must be a whole number of at least 2 (each engine's spread needs two runs), not {.val {format(seeds)}}.")
  }
  if (!is.null(label) && (!is.character(label) || length(label) != 1L)) {
    .hb_abort("{.arg label} must be the name of one meta.data column, or NULL.")
  }
  if (!is.null(report)) {
    if (!is.character(report) || length(report) != 1L || !nzchar(report)) .hb_abort("{.arg report} must be a file path, or NULL.")
    if (!dir.exists(dirname(path.expand(report)))) {
      .hb_abort(c("The folder of {.arg report} does not exist: {.path {dirname(report)}}.", "i" = "Create it first."))
    }
  }
  .hb_check_number(seed, "seed")
  input <- .hb_seurat_input(object, group.by.vars, reduction.use, dims.use, "CrossCheckHarmony", extra = label)
  embedding <- input$embedding
  storage.mode(embedding) <- "double"
  batches <- .hb_batches(input$meta, group.by.vars, nrow(embedding))
  meta <- c(batches$meta, if (!is.null(label)) stats::setNames(list(droplevels(as.factor(input$meta[[label]]))), label))
  meta <- lapply(meta, .hb_py_factor)
  meta$cell <- rownames(embedding)
  opts <- .hb_options(.options)
  harmony_meta <- as.data.frame(batches$meta, stringsAsFactors = FALSE)
  data_t <- t(embedding)
  runs <- 0L
  run_in_r <- function(args, options, seed) {
    runs <<- runs + 1L
    args <- lapply(args, function(v) if (is.list(v)) unlist(v) else v)
    options <- lapply(options, function(v) if (is.list(v)) unlist(v) else v)
    if (isTRUE(verbose)) message(sprintf("CrossCheckHarmony: R harmony, seed %d", as.integer(seed)))
    out <- hb_run_harmony(
      data_t, harmony_meta, batches$vars_use,
      theta = args$theta, sigma = args$sigma, lambda = args$lambda, nclust = as.integer(args$nclust),
      max_iter = as.integer(args$max_iter), ncores = as.integer(args$ncores), alpha = options$alpha,
      tau = options$tau, block.size = options$block.size, max.iter.cluster = as.integer(options$max.iter.cluster),
      epsilon.cluster = options$epsilon.cluster, epsilon.harmony = options$epsilon.harmony,
      batch.prop.cutoff = if (is.null(options$batch.prop.cutoff)) 1e-5 else options$batch.prop.cutoff,
      seed = as.integer(seed), verbose = FALSE
    )
    list(
      embedding = writeBin(as.vector(out$embedding), raw()), objective = out$objective, kmeans_rounds = out$kmeans_rounds,
      objective_kmeans = out$objective_kmeans, versions = as.list(out$versions)
    )
  }
  module <- .hb_python_module(python)
  # hb_run_harmony() calls set.seed(): keep the caller's random numbers as they were
  had_seed <- exists(".Random.seed", envir = globalenv(), inherits = FALSE)
  if (had_seed) saved <- get(".Random.seed", envir = globalenv(), inherits = FALSE)
  on.exit({
    if (had_seed) assign(".Random.seed", saved, envir = globalenv()) else if (exists(".Random.seed", envir = globalenv(), inherits = FALSE)) rm(".Random.seed", envir = globalenv())
  }, add = TRUE)
  if (isTRUE(verbose)) {
    message(sprintf("CrossCheckHarmony: %d cells x %d dims, %d seeds per engine (Python %s)",
                    nrow(embedding), ncol(embedding), as.integer(seeds), .hb_py$python))
  }
  args <- list(theta = theta, sigma = sigma, lambda = lambda, nclust = nclust, max_iter = max_iter, ncores = ncores)
  out <- .hb_py_call("CrossCheckHarmony()", module$cross_check(
    .hb_py_matrix(embedding), meta, as.list(batches$vars_use), run_in_r,
    label = label, n_seeds = as.integer(seeds), args = args,
    options = opts, seed = as.integer(seed), html = !is.null(report)
  ))
  if (runs != as.integer(seeds)) {
    .hb_abort("CrossCheckHarmony(): R harmony ran {runs} time{?s}, expected {as.integer(seeds)}.")
  }
  if (!is.null(report)) writeLines(out$html, report, useBytes = TRUE)
  structure(
    list(
      verdict = out$verdict, passed = isTRUE(out$passed), agreement = .hb_frame(out$agreement),
      integration = .hb_frame(out$integration), versions = unlist(out$versions), text = out$text,
      json = out$json, report = report
    ),
    class = "HarmonyCrossCheck"
  )
}

# A table sent as a named list of columns, as a data.frame with its names kept.
.hb_frame <- function(x) {
  as.data.frame(lapply(x, function(col) if (is.list(col)) unlist(col) else col), stringsAsFactors = FALSE, check.names = FALSE)
}

#' @rdname CrossCheckHarmony
#' @param x A `HarmonyCrossCheck` result, printed as the summary of the cross-check.
#' @param ... Ignored.
#' @export
print.HarmonyCrossCheck <- function(x, ...) {
  cat(x$text, "\n", sep = "")
  if (!is.null(x$report)) cat("  report: ", x$report, "\n", sep = "")
  invisible(x)
}
