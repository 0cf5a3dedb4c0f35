# RunHarmonyPy(): harmony::RunHarmony's interface, computed by harmonypy through reticulate.

# harmony::harmony_options()'s defaults (harmony 2.0.4), so that R harmony need not be installed.
.hb_harmony_option_defaults <- list(
  alpha = 0.2, tau = 0, block.size = 0.05, max.iter.cluster = 4, epsilon.cluster = 1e-3,
  epsilon.harmony = 1e-2, batch.prop.cutoff = 1e-5
)

# `.options` as a plain list with every option: NULL gives the defaults; a harmony_options()
# result or a named list overrides them (unknown names are refused).
.hb_options <- function(.options) {
  if (is.null(.options)) return(.hb_harmony_option_defaults)
  if (!is.list(.options) || (length(.options) && is.null(names(.options)))) {
    .hb_abort(c(
      "{.arg .options} must come from {.fn harmony::harmony_options} or be a named list of its options.",
      "i" = "Known options: {.val {names(.hb_harmony_option_defaults)}}."
    ))
  }
  opts <- unclass(.options)
  unknown <- setdiff(names(opts), names(.hb_harmony_option_defaults))
  if (length(unknown)) {
    .hb_abort(c(
      "{.arg .options} has unknown option{?s} {.val {unknown}}.",
      "i" = "Known options: {.val {names(.hb_harmony_option_defaults)}}."
    ))
  }
  out <- .hb_harmony_option_defaults
  out[names(opts)] <- opts
  out
}

.hb_check_number <- function(x, arg, null = FALSE, several = FALSE) {
  if (null && is.null(x)) return(invisible(TRUE))
  if (!is.numeric(x) || !length(x) || anyNA(x) || (!several && length(x) != 1L)) {
    what <- if (several) "numbers" else "one number"
    .hb_abort("{.arg {arg}} must be {what}{if (null) ' or NULL' else ''}, not {.val {format(x)}}.")
  }
  invisible(TRUE)
}

# Matrices and factors cross to Python as bytes (see src/harmonybridge/rpackage.py): exact,
# one copy, and independent of the NumPy ABI that reticulate was built against.
.hb_py_matrix <- function(m) list(data = writeBin(as.vector(m), raw()), nrow = nrow(m), ncol = ncol(m))
.hb_py_factor <- function(f) list(codes = writeBin(as.integer(f) - 1L, raw()), levels = levels(f))
.hb_r_matrix <- function(x, nrow, ncol) {
  v <- readBin(x, "double", n = as.double(nrow) * ncol)
  if (length(v) != nrow * ncol) .hb_abort("Python sent {length(v)} values for a {nrow} x {ncol} matrix.")
  dim(v) <- c(nrow, ncol)
  v
}

# A Python error from the engine, as one R error naming what was asked.
.hb_py_call <- function(what, expr) {
  tryCatch(expr, error = function(e) {
    msg <- conditionMessage(e)
    msg <- sub("^Error in py_call_impl\\(.*?\\) *: *\n?", "", msg)
    msg <- strsplit(msg, "\n", fixed = TRUE)[[1L]]
    msg <- msg[nzchar(trimws(msg)) & !grepl("^(Run `reticulate::py_last_error|Detailed traceback)", msg)]
    .hb_abort(c("{what} failed in Python:", "x" = "{msg[[1L]]}", "i" = "Harmony's parameters use R's names here; {.val lamb} is {.arg lambda}."))
  })
}

#' Harmony by harmonypy, with harmony::RunHarmony's arguments
#'
#' A drop-in for [harmony::RunHarmony()] that runs Harmony with the Python package harmonypy
#' (through reticulate and harmonybridge's Python engine) instead of R's harmony. The arguments,
#' their defaults and the result are RunHarmony's: on a Seurat object (SeuratObject 4 or 5) it
#' adds the reduction `reduction.save` with the key `harmony_`, the standard deviation of each
#' dimension, the assay of `reduction.use`, and (with `project.dim = TRUE`) feature loadings
#' projected by [Seurat::ProjectDim()]; on a matrix it returns the corrected cells x dimensions
#' matrix.
#'
#' Harmony is stochastic: the result depends on a seed. RunHarmony takes it from R's random
#' numbers (`set.seed()` before the call); so does RunHarmonyPy, which draws harmonypy's
#' `random_state` from them unless `seed` is given. With the same seed the embedding equals,
#' bit for bit, what `harmonypy.run_harmony()` gives in Python with `random_state = seed` and
#' the same parameters. harmonypy and R harmony use different random number generators, so
#' their results agree only statistically; [CrossCheckHarmony()] measures how well.
#'
#' Parameters the Python engine resolves like R: `theta = NULL` is 2 per variable,
#' `nclust = NULL` is `min(round(cells / 30), 100)`, `lambda = NULL` estimates lambda from
#' `alpha`. One `theta` or `lambda` may serve several variables.
#'
#' @param object A Seurat object (methods for SeuratObject 4 and 5), or a matrix (see
#'   `data_mat`).
#' @param ... Arguments of the methods; the Seurat method passes them on to the default method.
#' @param group.by.vars Names of the meta.data columns holding the batches.
#' @param reduction.use Name of the reduction to correct.
#' @param dims.use Dimensions of `reduction.use` to use; `NULL` uses all.
#' @param reduction.save Name of the reduction to store the result in.
#' @param project.dim Project the corrected embedding onto the features (feature loadings),
#'   as RunHarmony does; needs the assay's scale.data.
#' @param data_mat A matrix of cells x dimensions (or dimensions x cells).
#' @param meta_data A data.frame with one row per cell, or a vector of batch labels.
#' @param vars_use Names of the `meta_data` columns holding the batches.
#' @param theta Diversity penalty, one per variable (or one for all); `NULL` is 2.
#' @param sigma Width of soft k-means clusters.
#' @param lambda Ridge penalty, one per variable (or one for all); `NULL` estimates it.
#' @param nclust Number of clusters; `NULL` is `min(round(cells / 30), 100)`.
#' @param max_iter Maximum number of Harmony iterations.
#' @param early_stop Stop when the objective changes less than `epsilon.harmony`.
#' @param ncores Threads harmonypy may use (the result does not depend on it).
#' @param plot_convergence Plot the objective after each iteration.
#' @param return_object `TRUE` is refused: R harmony's internal object has no Python
#'   counterpart.
#' @param verbose Say which Python and harmonypy ran, the iterations and the time.
#' @param .options Advanced options, from [harmony::harmony_options()] or a named list of
#'   them (`alpha`, `tau`, `block.size`, `max.iter.cluster`, `epsilon.cluster`,
#'   `epsilon.harmony`, `batch.prop.cutoff`); `NULL` gives harmony_options()'s defaults, so
#'   R's harmony need not be installed.
#' @param seed harmonypy's `random_state`; `NULL` draws it from R's random numbers.
#' @param python Path of the Python to use; see [harmonybridge_python()].
#' @return The Seurat object with the reduction `reduction.save` added (its `misc` holds
#'   harmonybridge's record of the run: engine, versions, seed, parameters, objective), or for
#'   a matrix the corrected cells x dimensions matrix.
#' @seealso [harmony::RunHarmony()], [CrossCheckHarmony()], [harmonybridge_python()]
#' @examples
#' \dontrun{
#' # a Seurat object with a "pca" reduction and a "stim" column
#' obj <- RunHarmonyPy(obj, "stim")
#' Seurat::DimPlot(obj, reduction = "harmony")
#'
#' # a matrix and its metadata, with a fixed seed
#' pcs <- matrix(rnorm(2000 * 20), 2000, 20)
#' meta <- data.frame(batch = rep(c("a", "b"), each = 1000))
#' corrected <- RunHarmonyPy(pcs, meta, "batch", seed = 1)
#' }
#' @export
RunHarmonyPy <- function(...) {
  UseMethod("RunHarmonyPy")
}

#' @rdname RunHarmonyPy
#' @export
RunHarmonyPy.Seurat <- function(object, group.by.vars, reduction.use = "pca", dims.use = NULL,
                                reduction.save = "harmony", project.dim = TRUE, ...) {
  hb_require(c("SeuratObject", "Seurat"), "RunHarmonyPy() on a Seurat object")
  input <- .hb_seurat_input(object, group.by.vars, reduction.use, dims.use, "RunHarmonyPy")
  run <- .hb_run_harmonypy(input$embedding, input$meta, group.by.vars, ...)
  .hb_store_harmony(object, run$embedding, input$embedding, reduction.use, reduction.save, project.dim, run$record)
}

#' @rdname RunHarmonyPy
#' @export
RunHarmonyPy.default <- function(data_mat, meta_data, vars_use, theta = NULL, sigma = 0.1, lambda = NULL,
                                 nclust = NULL, max_iter = 10, early_stop = TRUE, ncores = 1,
                                 plot_convergence = FALSE, return_object = FALSE, verbose = TRUE,
                                 .options = NULL, seed = NULL, python = NULL, ...) {
  .hb_run_harmonypy(
    data_mat, meta_data, vars_use, theta = theta, sigma = sigma, lambda = lambda, nclust = nclust,
    max_iter = max_iter, early_stop = early_stop, ncores = ncores, plot_convergence = plot_convergence,
    return_object = return_object, verbose = verbose, .options = .options, seed = seed, python = python, ...
  )$embedding
}

# The embedding (cells x dims) and batch columns of a Seurat object, checked as RunHarmony checks.
.hb_seurat_input <- function(object, group.by.vars, reduction.use, dims.use, fn, extra = NULL) {
  reductions <- SeuratObject::Reductions(object)
  if (!is.character(reduction.use) || length(reduction.use) != 1L || !reduction.use %in% reductions) {
    .hb_abort(c(
      "{.arg reduction.use} {.val {reduction.use}} is not a reduction of the Seurat object.",
      "i" = if (length(reductions)) "Reductions: {.val {reductions}}." else "It has none: run {.code Seurat::RunPCA(object)} first."
    ))
  }
  embedding <- SeuratObject::Embeddings(object, reduction = reduction.use)
  dims.use <- dims.use %||% seq_len(ncol(embedding))
  if (!is.numeric(dims.use) || !all(dims.use %in% seq_len(ncol(embedding)))) {
    .hb_abort(c(
      "{.arg dims.use} asks for dimensions that {.val {reduction.use}} does not have.",
      "i" = "{.val {reduction.use}} has dimensions 1 to {ncol(embedding)}; rerun it with more or ask for fewer."
    ))
  }
  if (length(dims.use) < 2L) .hb_abort("{.arg dims.use} must name at least two dimensions.")
  meta <- object[[]]
  cols <- c(group.by.vars, extra)
  if (!is.character(group.by.vars) || !length(group.by.vars)) {
    .hb_abort("{.arg group.by.vars} must name meta.data columns, e.g. {.code group.by.vars = \"orig.ident\"}.")
  }
  missing <- setdiff(cols, colnames(meta))
  if (length(missing)) {
    .hb_abort(c(
      "{.val {missing}} {?is/are} not {?a column/columns} of the Seurat object's meta.data.",
      "i" = "Columns: {.val {colnames(meta)}}."
    ))
  }
  cells <- SeuratObject::Cells(object[[reduction.use]])
  meta <- meta[cells, cols, drop = FALSE]
  list(embedding = embedding[, dims.use, drop = FALSE], meta = meta)
}

# The batch columns as factors, unused levels dropped, with a clear error for missing labels
# and for one batch only.
.hb_batches <- function(meta_data, vars_use, n) {
  if (!is.data.frame(meta_data)) {
    if (length(meta_data) != n) {
      .hb_abort("{.arg meta_data} must be a data.frame with one row per cell or a vector of {n} batch labels, not {length(meta_data)} values.")
    }
    meta_data <- data.frame(batch_variable = meta_data)
    vars_use <- "batch_variable"
  }
  if (!is.character(vars_use) || !length(vars_use)) .hb_abort("{.arg vars_use} must name columns of {.arg meta_data}.")
  missing <- setdiff(vars_use, colnames(meta_data))
  if (length(missing)) {
    .hb_abort(c("{.val {missing}} {?is/are} not {?a column/columns} of {.arg meta_data}.", "i" = "Columns: {.val {colnames(meta_data)}}."))
  }
  if (nrow(meta_data) != n) {
    .hb_abort("{.arg meta_data} has {nrow(meta_data)} rows but the embedding has {n} cells.")
  }
  out <- lapply(stats::setNames(vars_use, vars_use), function(v) {
    x <- meta_data[[v]]
    if (anyNA(x)) {
      .hb_abort(c("Column {.val {v}} has {sum(is.na(x))} cell{?s} without a batch label.", "i" = "Label them or subset them away first."))
    }
    x <- droplevels(as.factor(x))
    if (nlevels(x) < 2L) .hb_abort("Column {.val {v}} has one batch only ({.val {levels(x)}}): there is nothing to integrate.")
    x
  })
  list(meta = out, vars_use = vars_use)
}

# The embedding as cells x dims: RunHarmony takes either orientation.
.hb_cells_by_dims <- function(data_mat, n) {
  if (!(is.matrix(data_mat) || inherits(data_mat, "Matrix")) || !is.numeric(as.vector(data_mat[0, 0, drop = FALSE]))) {
    .hb_abort("{.arg data_mat} must be a numeric matrix of cells x dimensions, not {.cls {class(data_mat)}}.")
  }
  m <- as.matrix(data_mat)
  if (nrow(m) != n && ncol(m) == n) m <- t(m)
  if (nrow(m) != n) .hb_abort("{.arg data_mat} is {nrow(m)} x {ncol(m)}, but {.arg meta_data} describes {n} cells.")
  if (!all(is.finite(m))) .hb_abort("{.arg data_mat} has NA, NaN or infinite values; Harmony needs finite ones.")
  storage.mode(m) <- "double"
  m
}

.hb_run_harmonypy <- function(data_mat, meta_data, vars_use, theta = NULL, sigma = 0.1, lambda = NULL,
                              nclust = NULL, max_iter = 10, early_stop = TRUE, ncores = 1,
                              plot_convergence = FALSE, return_object = FALSE, verbose = TRUE,
                              .options = NULL, seed = NULL, python = NULL, ...) {
  extra <- list(...)
  if (length(extra)) {
    .hb_abort(c(
      "Unknown argument{?s} {.arg {names(extra) %||% '(unnamed)'}}.",
      "i" = "RunHarmony's advanced options go in {.arg .options}, e.g. {.code .options = harmony::harmony_options(tau = 5)}."
    ))
  }
  if (isTRUE(return_object)) {
    .hb_abort(c(
      "{.arg return_object} = TRUE returns R harmony's internal object, which harmonypy has no counterpart of.",
      "i" = "Use {.code return_object = FALSE} (the default), or {.fn harmony::RunHarmony} for that object."
    ))
  }
  .hb_check_number(theta, "theta", null = TRUE, several = TRUE)
  .hb_check_number(sigma, "sigma")
  .hb_check_number(lambda, "lambda", null = TRUE, several = TRUE)
  .hb_check_number(nclust, "nclust", null = TRUE)
  .hb_check_number(max_iter, "max_iter")
  .hb_check_number(ncores, "ncores")
  .hb_check_number(seed, "seed", null = TRUE)
  opts <- .hb_options(.options)
  n <- if (is.data.frame(meta_data)) nrow(meta_data) else length(meta_data)
  batches <- .hb_batches(meta_data, vars_use, n)
  m <- .hb_cells_by_dims(data_mat, n)
  if (is.null(seed)) seed <- sample.int(.Machine$integer.max, 1L) - 1L
  module <- .hb_python_module(python)
  args <- list(theta = theta, sigma = sigma, lambda = lambda, nclust = nclust, max_iter = max_iter, ncores = ncores)
  options <- opts[setdiff(names(opts), "batch.prop.cutoff")]
  out <- .hb_py_call("RunHarmonyPy()", module$run_harmonypy(
    .hb_py_matrix(m), lapply(batches$meta, .hb_py_factor), as.list(batches$vars_use), args, options,
    seed = as.integer(seed), early_stop = isTRUE(early_stop),
    batch_prop_cutoff = opts$batch.prop.cutoff, verbose = FALSE
  ))
  embedding <- .hb_r_matrix(out$embedding, nrow(m), ncol(m))
  dimnames(embedding) <- dimnames(m)
  record <- list(
    engine = "harmonypy", seed = as.integer(seed), python = .hb_py$python, versions = unlist(out$versions),
    params = out$params, objective = as.numeric(out$objective), n_iter = length(out$kmeans_rounds),
    seconds = out$seconds
  )
  if (isTRUE(verbose)) {
    message(sprintf(
      "RunHarmonyPy: harmonypy %s (Python %s), %d cells x %d dims, seed %d: %d iterations in %.2f s",
      record$versions[["harmonypy"]], .hb_py$python, nrow(m), ncol(m), record$seed, record$n_iter, record$seconds
    ))
  }
  if (isTRUE(plot_convergence)) {
    graphics::plot(seq_along(record$objective) - 1L, record$objective, type = "b",
                   xlab = "Harmony iteration", ylab = "objective", main = "harmonypy convergence")
  }
  list(embedding = embedding, record = record)
}

# Store the corrected embedding as RunHarmony.Seurat does (harmony 2.0.4): reduction
# `reduction.save` with Key(reduction.save), each column's sd as stdev, the assay of
# `reduction.use`, then ProjectDim() when asked; harmonybridge's record goes to its misc.
.hb_store_harmony <- function(object, embedding, input, reduction.use, reduction.save, project.dim, record) {
  key <- Seurat::Key(reduction.save, quiet = TRUE)
  rownames(embedding) <- rownames(input)
  colnames(embedding) <- paste0(key, seq_len(ncol(embedding)))
  object[[reduction.save]] <- SeuratObject::CreateDimReducObject(
    embeddings = embedding,
    stdev = as.numeric(apply(embedding, 2, stats::sd)),
    assay = SeuratObject::DefaultAssay(object = object[[reduction.use]]),
    key = key,
    misc = list(harmonybridge = record)
  )
  if (isTRUE(project.dim)) {
    # called by its plain name: Seurat logs the command under the name of the call, and
    # "Seurat::ProjectDim" is not a valid name (RunHarmony's call warns about it)
    ProjectDim <- Seurat::ProjectDim
    object <- ProjectDim(object, reduction = reduction.save, overwrite = TRUE, verbose = FALSE)
  }
  object
}
