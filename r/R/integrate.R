#' Harmony the way Seurat 5 users run it: IntegrateLayers(method = HarmonyIntegration).
#'
#' HarmonyIntegration passes its own defaults to harmony (Seurat issue 8467: max.iter.cluster
#' 20 and epsilon.cluster 1e-5 where harmony uses 4 and 1e-3), and it reads only two things:
#' the embedding to correct and the layer each cell sits in. So the engine builds a Seurat 5
#' object of the same cells with the embedding as reduction "pca" and a two-feature placeholder
#' assay split by batch (its data layers give the groups, as in any split Seurat 5 object),
#' then calls IntegrateLayers itself.
#'
#' Seurat 5.0 to 5.2's HarmonyIntegration calls harmony::HarmonyMatrix(), which harmony 2.0
#' removed: on that pair IntegrateLayers(method = HarmonyIntegration) fails for everyone.
#' Seurat's own fix (satijalab/seurat pull request 9789) calls harmony::RunHarmony() instead,
#' with tau, block.size, max.iter.cluster, epsilon.cluster and epsilon.harmony through
#' harmony_options(). Where the installed Seurat has the old call, the engine runs the installed
#' HarmonyIntegration with that one call redirected the same way (hb_harmony_integration());
#' every other line, and its defaults, stay the installed Seurat's, and the path says so.

# HarmonyIntegration's harmony arguments, in harmonybridge's names.
.hb_integration_args <- c(
  theta = "theta", lamb = "lambda", sigma = "sigma", nclust = "nclust", tau = "tau",
  block_size = "block.size", max_iter = "max.iter.harmony", max_iter_kmeans = "max.iter.cluster",
  epsilon_cluster = "epsilon.cluster", epsilon_harmony = "epsilon.harmony"
)

#' The harmony functions a function calls as harmony::name.
hb_harmony_calls <- function(fun) {
  n <- all.names(body(fun))
  at <- which(n[-c(length(n) - 1L, length(n))] == "::" & n[-c(1L, length(n))] == "harmony")
  unique(n[at + 2L])
}

#' Whether this R can run IntegrateLayers(method = HarmonyIntegration), and what it passes.
#'
#' Returns a list: ok, reason (why not, with the fix), versions (Seurat, SeuratObject,
#' harmony), defaults (HarmonyIntegration's defaults for the arguments it passes on, in
#' harmonybridge's names, NA_real_ for NULL) and fixed (what the path cannot set: harmony's own
#' defaults for alpha, batch_prop_cutoff and ncores).
hb_seurat_harmony_path <- function() {
  version <- function(p) if (requireNamespace(p, quietly = TRUE)) as.character(utils::packageVersion(p)) else NA_character_
  versions <- c(Seurat = version("Seurat"), SeuratObject = version("SeuratObject"), harmony = version("harmony"))
  out <- list(ok = FALSE, reason = "", note = "", versions = versions, defaults = list(), fixed = list())
  if (is.na(versions[["Seurat"]]) || is.na(versions[["SeuratObject"]])) {
    out$reason <- "the seurat engine runs Seurat 5's IntegrateLayers(method = HarmonyIntegration); Seurat is not installed (in R: install.packages('Seurat'))"
    return(out)
  }
  if (utils::packageVersion("Seurat") < "5.0.0" || utils::packageVersion("SeuratObject") < "5.0.0") {
    out$reason <- sprintf(paste(
      "the seurat engine runs IntegrateLayers(method = HarmonyIntegration), which needs Seurat 5;",
      "this R has Seurat %s and SeuratObject %s. Install Seurat >= 5 (in R: install.packages('Seurat'))",
      "or use the 'r' engine (harmony::RunHarmony)"
    ), versions[["Seurat"]], versions[["SeuratObject"]])
    return(out)
  }
  if (is.na(versions[["harmony"]])) {
    out$reason <- "R package 'harmony' is not installed; in R: install.packages('harmony')"
    return(out)
  }
  fun <- getExportedValue("Seurat", "HarmonyIntegration")
  f <- formals(fun)
  out$defaults <- lapply(.hb_integration_args, function(a) {
    v <- eval(f[[a]])
    if (is.null(v)) NA_real_ else v
  })
  hopts <- formals(harmony::harmony_options)
  out$fixed <- list(
    alpha = eval(hopts$alpha), batch_prop_cutoff = eval(hopts$batch.prop.cutoff),
    ncores = eval(formals(utils::getFromNamespace("RunHarmony.default", "harmony"))$ncores)
  )
  missing <- setdiff(hb_harmony_calls(fun), c(getNamespaceExports("harmony"), names(.hb_harmony_redirects)))
  if (length(missing)) {
    out$reason <- sprintf(paste(
      "Seurat %s's HarmonyIntegration calls harmony::%s, which R harmony %s does not have, so",
      "IntegrateLayers(method = HarmonyIntegration) fails on this R for everyone (\"'%s' is not an",
      "exported object from 'namespace:harmony'\"). Fix: a Seurat whose HarmonyIntegration calls",
      "harmony::RunHarmony, or an R harmony that still has %s"
    ), versions[["Seurat"]], missing[[1]], versions[["harmony"]], missing[[1]], missing[[1]])
    return(out)
  }
  redirected <- hb_harmony_gone(fun)
  if (length(redirected)) {
    out$note <- sprintf(paste(
      "Seurat %s's HarmonyIntegration calls harmony::%s, which R harmony %s does not have (IntegrateLayers fails",
      "there as installed); the engine runs it with that call redirected to harmony::RunHarmony as Seurat's fix",
      "does (satijalab/seurat PR 9789: tau, block.size, max.iter.cluster, epsilon.cluster and epsilon.harmony",
      "through harmony_options); every other line and default is the installed Seurat's"
    ), versions[["Seurat"]], redirected[[1]], versions[["harmony"]])
  }
  out$ok <- TRUE
  out
}

#' harmony::HarmonyMatrix() as Seurat 5.0-5.2's HarmonyIntegration calls it, run by RunHarmony the way
#' Seurat's fix calls it: max.iter.harmony becomes max_iter, the k-means and convergence settings go
#' through harmony_options(). do_pca/npcs are what HarmonyIntegration passes to say "no PCA here".
hb_harmony_matrix <- function(data_mat, meta_data, vars_use, theta, lambda, sigma, nclust, tau, block.size,
                              max.iter.harmony, max.iter.cluster, epsilon.cluster, epsilon.harmony,
                              return_object = FALSE, verbose = TRUE, do_pca = FALSE, npcs = 0L, ...) {
  if (!isFALSE(do_pca) || length(list(...))) {
    stop("hb_harmony_matrix: only HarmonyIntegration's call (do_pca = FALSE, no further arguments) is supported",
         call. = FALSE)
  }
  harmony::RunHarmony(
    data_mat = data_mat, meta_data = meta_data, vars_use = vars_use, theta = theta, lambda = lambda,
    sigma = sigma, nclust = nclust, max_iter = max.iter.harmony, return_object = return_object, verbose = verbose,
    .options = harmony::harmony_options(
      tau = tau, block.size = block.size, max.iter.cluster = max.iter.cluster,
      epsilon.cluster = epsilon.cluster, epsilon.harmony = epsilon.harmony
    )
  )
}

# harmony functions that older Seurat releases call and harmony 2 removed -> what runs in their place
.hb_harmony_redirects <- list(HarmonyMatrix = quote(hb_harmony_matrix))

#' The harmony functions `fun` calls that this harmony no longer has and that have a redirect.
hb_harmony_gone <- function(fun) {
  intersect(hb_harmony_calls(fun), setdiff(names(.hb_harmony_redirects), getNamespaceExports("harmony")))
}

#' `expr` with every call of harmony::<from> made a call of `to` (a symbol), the rest untouched.
hb_redirect_calls <- function(expr, from, to) {
  if (!is.call(expr)) return(expr)
  if (identical(expr, call("::", quote(harmony), as.name(from)))) return(to)
  parts <- as.list(expr)
  for (i in seq_along(parts)) {
    # an empty argument (x[, 1]) is the missing symbol: leave it as it is
    if (!(is.name(parts[[i]]) && !nzchar(as.character(parts[[i]])))) {
      parts[[i]] <- hb_redirect_calls(parts[[i]], from, to)
    }
  }
  as.call(parts)
}

#' The installed Seurat's HarmonyIntegration, runnable with the installed harmony: calls of harmony
#' functions that harmony 2 removed (.hb_harmony_redirects) go to their replacements; unchanged otherwise.
hb_harmony_integration <- function() {
  fun <- getExportedValue("Seurat", "HarmonyIntegration")
  gone <- hb_harmony_gone(fun)
  if (!length(gone)) return(fun)
  env <- new.env(parent = environment(fun))
  redirected <- body(fun)
  for (name in gone) {
    target <- .hb_harmony_redirects[[name]]
    assign(as.character(target), get(as.character(target), mode = "function"), envir = env)
    redirected <- hb_redirect_calls(redirected, name, target)
  }
  out <- fun
  body(out) <- redirected
  environment(out) <- env
  attributes(out) <- attributes(fun)[setdiff(names(attributes(fun)), "srcref")]
  out
}

#' Run IntegrateLayers(method = HarmonyIntegration) on a Seurat 5 object of these cells.
#'
#' `embedding` is components x cells, `batch` a factor with one value per cell. `params` is a
#' named list of HarmonyIntegration's arguments (R names, e.g. max.iter.cluster); empty = Seurat's
#' own defaults. `seed` goes to set.seed() first. `method` is HarmonyIntegration unless given.
#' Returns list(embedding = components x cells, versions).
hb_seurat_integrate <- function(embedding, batch, params = list(), seed = 0L, verbose = FALSE, method = NULL) {
  if (is.null(method)) {
    status <- hb_seurat_harmony_path()
    if (!status$ok) stop(status$reason, call. = FALSE)
    method <- hb_harmony_integration()
  }
  if (!is.matrix(embedding) || ncol(embedding) != length(batch)) {
    stop("embedding must be a components x cells matrix with one column per batch value", call. = FALSE)
  }
  n <- ncol(embedding)
  cells <- paste0("c", seq_len(n))
  # two features: SeuratObject 5 refuses a one-feature Assay5 ("Layers must be two-dimensional objects")
  features <- c("placeholder1", "placeholder2")
  placeholder <- Matrix::sparseMatrix(
    i = integer(), j = integer(), x = numeric(), dims = c(2L, n), dimnames = list(features, cells)
  )
  obj <- hb_new_seurat(hb_make_assay(data = placeholder, version = "v5"), assay = "RNA")
  obj[["RNA"]] <- split(obj[["RNA"]], f = as.factor(batch))
  # Seurat-5-only functions are looked up at run time: R CMD check on a Seurat 4 stack would
  # otherwise warn that they are not exported (this path is refused there by hb_seurat_harmony_path)
  set_layer <- getExportedValue("SeuratObject", "LayerData<-")
  obj <- set_layer(obj, assay = "RNA", layer = "scale.data", value = matrix(0, 2L, n, dimnames = list(features, cells)))
  emb <- t(embedding)
  dimnames(emb) <- list(cells, paste0("PC_", seq_len(ncol(emb))))
  obj[["pca"]] <- SeuratObject::CreateDimReducObject(embeddings = emb, key = "PC_", assay = "RNA")
  # objects cross by name (quote), so that an error message never deparses the whole object
  args <- c(list(quote(obj), method = quote(method), orig.reduction = "pca", new.reduction = "harmony",
                 features = features, verbose = verbose), params)
  set.seed(seed)
  obj <- do.call(getExportedValue("Seurat", "IntegrateLayers"), args, envir = environment())
  out <- SeuratObject::Embeddings(obj, reduction = "harmony")
  if (!identical(rownames(out), cells)) stop("IntegrateLayers returned the cells in another order", call. = FALSE)
  list(
    embedding = t(unname(out)),
    versions = c(hb_versions(c("Seurat", "SeuratObject", "harmony")), hb_harmony_build_fields())
  )
}
