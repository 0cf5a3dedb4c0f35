# What a Seurat object holds that has no place in an AnnData, carried across a round trip.
#
# hb_seurat_carry() takes, from a Seurat object, the parts that are R objects with no AnnData
# counterpart: split v5 layers (which cells each counts.<group> layer held: from_seurat joins
# them, restore splits them again), SCTransform's models of an SCTAssay (rebuilt from a v4 Assay),
# @commands (SeuratCommand logs), @tools, Misc (all but harmonybridge's own record),
# and per reduction its misc (RunPCA's total.variance), global flag, jackstraw, projected
# loadings, the features its loadings cover (Seurat's PCA has loadings for the variable
# features only) and the attributes of its embeddings (uwot's "scaled:center"). Each is
# serialize()d to a raw vector, so that Python can store it in the .h5ad untouched
# (uns["seurat"]["r"]) and hb_seurat_restore() can put it back identical(). What Python
# can use (embeddings, loadings, idents, variable features) crosses as data, not here.

.hb_slot <- function(object, name) methods::slot(object, name)

.hb_raw <- function(x) serialize(x, connection = NULL, xdr = TRUE)

# The carried bytes come back from a file, so they must be plain data: Python checks them
# (the convert package's check of the serialized stream) and refuses promises, functions, environments and byte code.
# A SeuratCommand's params may hold the package's own functions (FindVariableFeatures keeps
# mean.function = FastExpMean): those travel by name and come back from the installed namespace.
.hb_fun_namespaces <- c("Seurat", "SeuratObject", "sctransform")

.hb_fun_out <- function(x) {
  if (!is.function(x)) return(x)
  env <- environment(x)
  ns <- if (is.environment(env) && isNamespace(env)) getNamespaceName(env) else ""
  if (!ns %in% .hb_fun_namespaces) return(x)  # anything else stays a function: refused on the way back
  for (name in ls(env, all.names = TRUE)) {
    if (identical(get0(name, envir = env, inherits = FALSE), x)) {
      return(structure(list(namespace = unname(ns), name = name), class = "hb_function"))
    }
  }
  x
}

.hb_fun_in <- function(x) {
  if (!inherits(x, "hb_function") || !x$namespace %in% .hb_fun_namespaces) return(x)
  if (!requireNamespace(x$namespace, quietly = TRUE)) return(x)
  f <- get0(x$name, envir = asNamespace(x$namespace), inherits = FALSE)
  if (is.function(f)) f else x
}

.hb_commands <- function(commands, fun) {
  for (i in seq_along(commands)) {
    cmd <- commands[[i]]
    if (!methods::is(cmd, "SeuratCommand")) next
    params <- methods::slot(cmd, "params")
    if (is.list(params) && length(params)) {
      params[] <- lapply(params, fun)
      methods::slot(cmd, "params") <- params
      commands[[i]] <- cmd
    }
  }
  commands
}

#' The R-only parts of `object`, as a named list of raw vectors (serialized R objects).
#' `reductions`: the reductions whose extras are carried (default all).
#' @noRd
hb_seurat_carry <- function(object, reductions = NULL) {
  hb_require(c("Matrix", "SeuratObject"), "hb_seurat_carry()")
  misc <- .hb_slot(object, "misc")
  misc[["harmonybridge"]] <- NULL
  reds <- list()
  for (name in reductions %||% .so("Reductions")(object)) {
    dr <- object[[name]]
    emb <- .hb_slot(dr, "cell.embeddings")
    attrs <- attributes(emb)
    attrs[c("dim", "dimnames")] <- NULL
    loadings <- .hb_slot(dr, "feature.loadings")
    reds[[name]] <- list(
      misc = .hb_slot(dr, "misc"), global = .hb_slot(dr, "global"), jackstraw = .hb_slot(dr, "jackstraw"),
      projected = .hb_slot(dr, "feature.loadings.projected"), key = .so("Key")(dr),
      assay = .so("DefaultAssay")(dr), embedding_attributes = attrs,
      loadings_features = if (length(loadings)) rownames(loadings) else NULL
    )
  }
  sct <- list()
  split <- list()
  for (name in .so("Assays")(object)) {
    a <- object[[name]]
    if (inherits(a, "StdAssay")) {  # split v5 layers (counts.<group>, ...): which cells each group has
      groups <- sub("^counts\\.", "", .so("Layers")(a, search = "^counts\\."))
      if (length(groups) > 1L) {
        label <- character(ncol(a))
        names(label) <- colnames(a)
        for (g in groups) label[colnames(.so("LayerData")(a, layer = paste0("counts.", g)))] <- g
        layers <- intersect(c("counts", "data"), unique(sub("\\..*$", "", .so("Layers")(a))))
        layers <- layers[vapply(layers, function(l) length(.so("Layers")(a, search = paste0("^", l, "\\."))) > 1L, TRUE)]
        split[[name]] <- list(label = label, groups = groups, layers = layers)
      }
    }
    if (inherits(a, "SCTAssay")) {  # SCTransform's models: what PrepSCTFindMarkers and FindMarkers read
      sct[[name]] <- list(models = .hb_slot(a, "SCTModel.list"), assay.orig = .hb_slot(a, "assay.orig"),
                          misc = .hb_slot(a, "misc"))
    }
  }
  list(
    split = .hb_raw(split),
    sct = .hb_raw(sct),
    commands = .hb_raw(.hb_commands(.hb_slot(object, "commands"), .hb_fun_out)),
    tools = .hb_raw(.hb_slot(object, "tools")),
    misc = .hb_raw(misc),
    reductions = .hb_raw(reds)
  )
}

#' Put back what hb_seurat_carry() took (a list of raw vectors; any may be missing). Reductions
#' absent from `object` are skipped; a reduction's loadings are cut back to the features they
#' covered when all of them are there; keys rename the embedding columns as Seurat names them.
#' @noRd
hb_seurat_restore <- function(object, carry) {
  hb_require(c("Matrix", "SeuratObject"), "hb_seurat_restore()")
  # carry: bytes the convert package has checked hold no promise, function, environment or byte code
  get <- function(name) if (!is.null(carry[[name]])) unserialize(carry[[name]]) else NULL
  commands <- get("commands")
  if (!is.null(commands)) methods::slot(object, "commands") <- .hb_commands(commands, .hb_fun_in)
  tools <- get("tools")
  if (!is.null(tools)) methods::slot(object, "tools") <- tools
  misc <- get("misc")
  if (!is.null(misc)) {
    own <- .hb_slot(object, "misc")[["harmonybridge"]]
    methods::slot(object, "misc") <- c(misc, if (!is.null(own)) list(harmonybridge = own))
  }
  sct <- get("sct")
  for (name in intersect(names(sct), .so("Assays")(object))) {
    a <- object[[name]]
    if (inherits(a, "SCTAssay") || !inherits(a, "Assay") || !requireNamespace("Seurat", quietly = TRUE)) next
    object[[name]] <- methods::new(
      "SCTAssay", a, SCTModel.list = sct[[name]]$models, assay.orig = sct[[name]]$assay.orig, misc = sct[[name]]$misc
    )
  }
  split <- get("split")
  for (name in intersect(names(split), .so("Assays")(object))) {
    a <- object[[name]]
    sp <- split[[name]]
    if (!inherits(a, "StdAssay") || length(.so("Layers")(a, search = "^counts\\.")) > 1L) next
    if (!setequal(names(sp$label), colnames(a))) next
    f <- factor(sp$label[colnames(a)], levels = sp$groups)
    object[[name]] <- split(a, f = f, layers = sp$layers)
  }
  reds <- get("reductions")
  for (name in intersect(names(reds), .so("Reductions")(object))) {
    r <- reds[[name]]
    dr <- object[[name]]
    emb <- .hb_slot(dr, "cell.embeddings")
    if (!is.null(r$key) && ncol(emb)) {
      colnames(emb) <- paste0(r$key, seq_len(ncol(emb)))
      methods::slot(dr, "key") <- r$key
    }
    for (a in names(r$embedding_attributes)) attr(emb, a) <- r$embedding_attributes[[a]]
    methods::slot(dr, "cell.embeddings") <- emb
    loadings <- .hb_slot(dr, "feature.loadings")
    if (length(loadings)) {
      colnames(loadings) <- colnames(emb)
      if (!is.null(r$loadings_features) && all(r$loadings_features %in% rownames(loadings))) {
        loadings <- loadings[r$loadings_features, , drop = FALSE]
      }
      methods::slot(dr, "feature.loadings") <- loadings
    }
    methods::slot(dr, "feature.loadings.projected") <- r$projected
    methods::slot(dr, "misc") <- r$misc
    methods::slot(dr, "global") <- r$global
    methods::slot(dr, "jackstraw") <- r$jackstraw
    if (!is.null(r$assay) && r$assay %in% .so("Assays")(object)) methods::slot(dr, "assay.used") <- r$assay
    methods::validObject(dr)
    object[[name]] <- dr
  }
  object
}
