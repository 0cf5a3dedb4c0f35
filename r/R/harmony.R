#' Run harmony::RunHarmony on an embedding and return the result with its trace.
#'
#' The embedding arrives as components x cells (the layout harmony works in, so no
#' transpose is needed), `meta` as a data.frame of batch factors. Every parameter is
#' explicit; `seed` goes to set.seed() first. Returns a list: `embedding` (components x
#' cells), `objective` (harmony objective, initial value first), `kmeans_rounds`,
#' `objective_kmeans` and `versions`.
hb_run_harmony <- function(embedding, meta, vars_use, theta, sigma, lambda = NULL, nclust,
                           max_iter, ncores, alpha, tau, block.size, max.iter.cluster,
                           epsilon.cluster, epsilon.harmony, seed, verbose = FALSE) {
  hb_require("harmony", "in R: install.packages('harmony')")
  if (!is.matrix(embedding) || ncol(embedding) != nrow(meta)) {
    stop("embedding must be a components x cells matrix with one column per row of meta")
  }
  opts <- harmony::harmony_options(
    alpha = alpha, tau = tau, block.size = block.size, max.iter.cluster = max.iter.cluster,
    epsilon.cluster = epsilon.cluster, epsilon.harmony = epsilon.harmony
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
    versions = hb_versions(c("harmony", "Rcpp", "RcppArmadillo"))
  )
}

#' Stop with the install command when a package is missing.
hb_require <- function(package, fix) {
  if (!requireNamespace(package, quietly = TRUE)) {
    stop(sprintf("R package '%s' is not installed; %s", package, fix), call. = FALSE)
  }
  invisible(TRUE)
}
