#' Run harmony::RunHarmony on an embedding and return the result with its trace.
#'
#' The embedding arrives as components x cells (the layout harmony works in, so no
#' transpose is needed), `meta` as a data.frame of batch factors. Every parameter is
#' explicit; `seed` goes to set.seed() first. Returns a list: `embedding` (components x
#' cells), `objective` (harmony objective, initial value first), `kmeans_rounds`,
#' `objective_kmeans` and `versions`.
#' @noRd
hb_run_harmony <- function(embedding, meta, vars_use, theta, sigma, lambda = NULL, nclust,
                           max_iter, ncores, alpha, tau, block.size, max.iter.cluster,
                           epsilon.cluster, epsilon.harmony, batch.prop.cutoff = 1e-5, seed,
                           verbose = FALSE) {
  hb_require("harmony", "hb_run_harmony()")
  if (!is.matrix(embedding) || ncol(embedding) != nrow(meta)) {
    stop("embedding must be a components x cells matrix with one column per row of meta", call. = FALSE)
  }
  opts <- harmony::harmony_options(
    alpha = alpha, tau = tau, block.size = block.size, max.iter.cluster = max.iter.cluster,
    epsilon.cluster = epsilon.cluster, epsilon.harmony = epsilon.harmony,
    batch.prop.cutoff = batch.prop.cutoff
  )
  set.seed(seed)
  obj <- harmony::RunHarmony(
    data_mat = embedding, meta_data = meta, vars_use = vars_use, theta = theta, sigma = sigma,
    lambda = lambda, nclust = nclust, max_iter = max_iter, early_stop = TRUE, ncores = ncores,
    return_object = TRUE, verbose = verbose, .options = opts
  )
  list(
    embedding = obj$getZcorr(),
    objective = as.numeric(obj$objective_harmony),
    kmeans_rounds = as.integer(obj$kmeans_rounds),
    objective_kmeans = as.numeric(obj$objective_kmeans),
    versions = c(hb_versions(c("harmony", "Rcpp", "RcppArmadillo")), hb_harmony_build_fields())
  )
}

#' The build of harmony as named strings for a `versions` record: harmony_library, harmony_precision.
#' @noRd
hb_harmony_build_fields <- function() {
  b <- hb_harmony_build()
  c(harmony_library = b$library, harmony_precision = b$precision)
}

#' A Seurat reduction's embedding as dims x cells (NumPy's cells x dims, byte for byte).
#' @noRd
hb_seurat_embedding <- function(object, reduction = "pca") {
  hb_require("SeuratObject", "hb_seurat_embedding()")
  available <- SeuratObject::Reductions(object)
  if (!reduction %in% available) {
    stop(sprintf(
      "reduction '%s' not in the Seurat object; available: %s. Run Seurat::RunPCA() first.",
      reduction, if (length(available)) paste(available, collapse = ", ") else "none"
    ), call. = FALSE)
  }
  emb <- t(SeuratObject::Embeddings(object, reduction = reduction))
  storage.mode(emb) <- "double"
  emb
}

#' Which cells (columns of a components x cells matrix) hold NaN, NA or Inf, 0-based: the
#' embedding checks name them without the matrix leaving R.
#' @noRd
hb_nonfinite_cells <- function(embedding) {
  which(colSums(!is.finite(embedding)) > 0) - 1L
}

#' Metadata columns of a Seurat object as character vectors (NA kept), for the batch checks.
#' @noRd
hb_seurat_meta <- function(object, vars) {
  md <- object[[]]
  missing <- setdiff(vars, colnames(md))
  if (length(missing)) {
    stop(sprintf(
      "batch key '%s' not in the Seurat object's meta.data; available columns: %s",
      missing[[1]], paste(colnames(md), collapse = ", ")
    ), call. = FALSE)
  }
  out <- lapply(vars, function(v) as.character(md[[v]]))
  names(out) <- vars
  out
}

#' Store a corrected embedding as RunHarmony.Seurat does: reduction `reduction.save`, key
#' from Key(), stdev of each column, the assay of `reduction.use`, then ProjectDim when the
#' assay has scale.data (RunHarmony's project.dim = TRUE). `record` (the run's JSON) goes to
#' Misc(object, reduction.save): "harmony" by default, one slot per reduction saved.
#' @noRd
hb_seurat_add_harmony <- function(object, embedding, reduction.use = "pca", reduction.save = "harmony",
                                  project.dim = TRUE, record = NULL) {
  hb_require(c("SeuratObject", "Seurat"), "hb_seurat_add_harmony()")
  emb <- t(embedding)
  rownames(emb) <- SeuratObject::Cells(object[[reduction.use]])
  key <- Seurat::Key(reduction.save, quiet = TRUE)
  colnames(emb) <- paste0(key, seq_len(ncol(emb)))
  assay <- SeuratObject::DefaultAssay(object[[reduction.use]])
  object[[reduction.save]] <- SeuratObject::CreateDimReducObject(
    embeddings = emb, stdev = as.numeric(apply(emb, 2, stats::sd)), assay = assay, key = key
  )
  scaled <- tryCatch(.hb_get_layer(object[[assay]], "scale.data"), error = function(e) NULL)
  if (project.dim && !is.null(scaled) && length(scaled) > 0) {
    object <- Seurat::ProjectDim(object, reduction = reduction.save, overwrite = TRUE, verbose = FALSE)
  }
  if (!is.null(record)) SeuratObject::Misc(object, slot = reduction.save) <- record  # one per run (--backend both)
  object
}
