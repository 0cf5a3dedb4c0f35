# R side of harmonybridge's Seurat session (SeuratSession, call_seurat, markers, transfer_labels),
# called from Python by name (src/harmonybridge/_rbridge/_seurat.py); nothing here touches globalenv.
# Every function takes R objects by argument; calls of Seurat functions are built from symbols
# bound in a fresh environment (hb_session_eval), never with an object inlined.

# The function `name` ("Fn" in Seurat or SeuratObject, or "pkg::Fn"), its package and the
# names of its arguments (those of the generic and of its methods for `classes`).
#' @noRd
hb_session_find <- function(name, classes = character(0)) {
  if (grepl("::", name, fixed = TRUE)) {
    parts <- strsplit(name, ":::?")[[1L]]
    if (length(parts) != 2L || !nzchar(parts[1L]) || !nzchar(parts[2L])) {
      stop("'", name, "' is not a function name of the form 'pkg::name'", call. = FALSE)
    }
    pkgs <- parts[1L]
    fn <- parts[2L]
    if (!requireNamespace(pkgs, quietly = TRUE)) {
      stop("R package '", pkgs, "' is not installed (in R: install.packages('", pkgs, "'))", call. = FALSE)
    }
  } else {
    pkgs <- c("Seurat", "SeuratObject")
    fn <- name
  }
  for (pkg in pkgs) {
    if (!requireNamespace(pkg, quietly = TRUE)) next
    ns <- asNamespace(pkg)
    if (!fn %in% getNamespaceExports(pkg)) next
    fun <- getExportedValue(pkg, fn)
    if (!is.function(fun)) next
    args <- names(formals(if (is.primitive(fun)) args(fun) else fun))
    for (cls in c(classes, "default")) {
      m <- utils::getS3method(fn, cls, optional = TRUE, envir = ns)
      if (!is.null(m)) args <- c(args, names(formals(m)))
    }
    return(list(fun = fun, package = pkg, name = fn, args = unique(args)))
  }
  NULL
}

# Evaluate `fname(<args>)` in a fresh environment where every argument is bound to a symbol:
# `args` is a named list ("" = positional; positional ones are bound to `object`, `arg2`, ...).
# R warnings are collected, not printed. Returns list(value, warnings).
#' @noRd
hb_session_eval <- function(fun, fname, args) {
  env <- new.env(parent = baseenv())
  nms <- names(args)
  if (is.null(nms)) nms <- rep("", length(args))
  syms <- character(length(args))
  for (i in seq_along(args)) {
    syms[i] <- if (nzchar(nms[i])) nms[i] else if (i == 1L) "object" else paste0("arg", i)
    assign(syms[i], args[[i]], envir = env)
  }
  assign(fname, fun, envir = env)
  cl <- as.call(c(list(as.name(fname)), lapply(syms, as.name)))
  names(cl) <- c("", nms)
  rm(args)
  warnings <- character(0)
  value <- withCallingHandlers(
    eval(cl, env),
    warning = function(w) {
      warnings <<- c(warnings, conditionMessage(w))
      invokeRestart("muffleWarning")
    }
  )
  list(value = value, warnings = warnings)
}

#' @noRd
hb_session_is_seurat <- function(x) inherits(x, "Seurat")
#' @noRd
hb_session_is_data_frame <- function(x) is.data.frame(x)
#' @noRd
hb_session_assays <- function(object) SeuratObject::Assays(object)
#' @noRd
hb_session_default_assay <- function(object) SeuratObject::DefaultAssay(object)

# An assay's feature metadata (v4 meta.features, v5 the Assay5's), through SeuratObject's [[.
#' @noRd
.hb_var <- function(a) a[[]]

# What changed from `old` to `new` (two Seurat objects), for `assay`: names only, cheap
# (identical() on unchanged parts compares pointers).
#' @noRd
hb_session_diff <- function(old, new, assay) {
  changed <- function(x, y) !identical(x, y)
  om <- old[[]]
  nm <- new[[]]
  meta <- names(nm)[vapply(names(nm), function(c) !c %in% names(om) || changed(om[[c]], nm[[c]]), logical(1))]
  meta_removed <- setdiff(names(om), names(nm))
  old_assays <- SeuratObject::Assays(old)
  new_assays <- SeuratObject::Assays(new)
  layers <- character(0)
  var <- character(0)
  var_features <- FALSE
  if (assay %in% new_assays) {
    a1 <- new[[assay]]
    a0 <- if (assay %in% old_assays) old[[assay]] else NULL
    for (l in .hb_layers(a1)) {
      if (is.null(a0) || !l %in% .hb_layers(a0) || changed(.hb_get_layer(a0, l), .hb_get_layer(a1, l))) layers <- c(layers, l)
    }
    v1 <- .hb_var(a1)
    v0 <- if (is.null(a0)) data.frame() else .hb_var(a0)
    var <- names(v1)[vapply(names(v1), function(c) !c %in% names(v0) || changed(v0[[c]], v1[[c]]), logical(1))]
    vf0 <- if (is.null(a0)) character(0) else SeuratObject::VariableFeatures(a0)
    var_features <- changed(vf0, SeuratObject::VariableFeatures(a1))
  }
  other_changed <- character(0)
  for (a in intersect(setdiff(new_assays, assay), old_assays)) {
    if (changed(old[[a]], new[[a]])) other_changed <- c(other_changed, a)
  }
  reds0 <- SeuratObject::Reductions(old)
  reductions <- Filter(function(r) !r %in% reds0 || changed(old[[r]], new[[r]]), SeuratObject::Reductions(new))
  graphs0 <- SeuratObject::Graphs(old)
  graphs <- Filter(function(g) !g %in% graphs0 || changed(old[[g]], new[[g]]), SeuratObject::Graphs(new))
  nbrs0 <- SeuratObject::Neighbors(old)
  neighbors <- Filter(function(g) !g %in% nbrs0, SeuratObject::Neighbors(new))
  misc <- setdiff(names(SeuratObject::Misc(new)), names(SeuratObject::Misc(old)))
  tools <- setdiff(names(new@tools), names(old@tools))
  list(
    meta = as.character(meta), meta_removed = as.character(meta_removed),
    layers = as.character(layers), var = as.character(var), var_features = var_features,
    new_assays = setdiff(new_assays, old_assays), removed_assays = setdiff(old_assays, new_assays),
    other_changed = other_changed, reductions = as.character(reductions), graphs = as.character(graphs),
    neighbors = as.character(neighbors), misc = as.character(misc), tools = as.character(tools),
    idents = changed(SeuratObject::Idents(old), SeuratObject::Idents(new)),
    default_assay = SeuratObject::DefaultAssay(new)
  )
}

#' @noRd
hb_session_variable_features <- function(object, assay) SeuratObject::VariableFeatures(object[[assay]])

# Idents as a factor; and the names of meta.data columns equal to it.
#' @noRd
hb_session_idents <- function(object) {
  id <- SeuratObject::Idents(object)
  meta <- object[[]]
  same <- names(meta)[vapply(names(meta), function(c) {
    x <- meta[[c]]
    (is.factor(x) || is.character(x)) && identical(as.character(x), as.character(id))
  }, logical(1))]
  list(idents = id, same_as = same)
}

# A reduction's parts: embeddings (cells x k), loadings (features x k, or NULL), stdev, key, assay.
#' @noRd
hb_session_reduction <- function(object, name) {
  dr <- object[[name]]
  ld <- SeuratObject::Loadings(dr)
  list(
    embeddings = SeuratObject::Embeddings(dr), loadings = if (length(ld)) ld else NULL,
    stdev = SeuratObject::Stdev(dr), key = SeuratObject::Key(dr),
    assay = SeuratObject::DefaultAssay(dr), cells = rownames(SeuratObject::Embeddings(dr))
  )
}

# A graph as a dgCMatrix (cells x cells) and the cell names of its rows.
#' @noRd
hb_session_graph <- function(object, name) {
  g <- methods::as(object[[name]], "dgCMatrix")
  list(graph = g, cells = rownames(g))
}
