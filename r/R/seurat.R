# Building and reading Seurat objects part by part, for harmonybridge's AnnData <-> Seurat
# converters (src/harmonybridge/convert/). Everything goes through SeuratObject's
# accessors (CreateAssayObject / CreateAssay5Object, SetAssayData / LayerData<-, GetAssayData
# / LayerData, Embeddings, Loadings, Stdev, CreateDimReducObject, as.Graph, Misc, [[<-);
# there is no @slot access on Seurat objects. The one departure from CreateSeuratObject is
# hb_new_seurat(), which builds the object with the class generator as CreateSeuratObject
# does, but without its per-cell parse of cell names (see there).
#
# SeuratObject 4 (Assay only) and 5 (Assay and Assay5) are both supported: the code
# dispatches on the installed version at run time (hb_seurat_object_v5()).

#' The assay version written when none is asked for: "v5" with SeuratObject >= 5, else "v4".
#' @noRd
hb_default_assay_version <- function() if (hb_seurat_object_v5()) "v5" else "v4"

#' "v5" for an Assay5 (StdAssay), "v4" for an Assay.
#' @noRd
hb_assay_version <- function(object, assay = NULL) {
  a <- if (inherits(object, "Seurat")) object[[assay %||% .so("DefaultAssay")(object)]] else object
  if (inherits(a, "StdAssay")) "v5" else "v4"
}

# ---- vectors and matrices from Python ------------------------------------------------------

#' Split one string joined with sep (and ended by sep) into its n pieces.
#' @noRd
hb_split_strings <- function(joined, n, na = NULL, sep = "\x1f") {
  if (n == 0L) return(character(0))
  out <- strsplit(joined, sep, fixed = TRUE)[[1L]]
  if (length(out) != n) stop("hb_split_strings: expected ", n, " strings, got ", length(out), call. = FALSE)
  if (!is.null(na)) out[na] <- NA_character_
  out
}

#' A character vector as one string joined by sep (NA as "") and the NA mask.
#' @noRd
hb_join_strings <- function(x, sep = "\x1f") {
  x <- as.character(x)
  na <- is.na(x)
  x[na] <- ""
  x <- enc2utf8(x)
  if (any(grepl(sep, x, fixed = TRUE))) return(list(joined = NULL, na = na, strings = x))
  list(joined = paste0(x, collapse = sep), na = na, strings = NULL)
}

#' A dgCMatrix (features x cells) from its 0-based CSC arrays, without copying them.
#' @noRd
hb_dgc <- function(i, p, x, nrow, ncol, features, cells) {
  hb_require(c("Matrix", "SeuratObject"), "hb_dgc()")
  methods::new("dgCMatrix", i = i, p = p, x = x, Dim = c(as.integer(nrow), as.integer(ncol)),
               Dimnames = list(features, cells))
}

#' A dense features x cells matrix from column-major values.
#' @noRd
hb_dense <- function(x, nrow, ncol, features, cells) {
  dim(x) <- c(as.integer(nrow), as.integer(ncol))
  dimnames(x) <- list(features, cells)
  x
}

#' A data frame from a named list of columns, names kept as they are (no check.names).
#' @noRd
hb_data_frame <- function(columns, row_names) {
  structure(columns, names = names(columns) %||% character(0), class = "data.frame", row.names = row_names)
}

# ---- AnnData parts -> Seurat ---------------------------------------------------------------

.hb_key <- function(name) {
  key <- gsub("[^A-Za-z0-9]", "", name)
  if (!nzchar(key) || grepl("^[0-9]", key)) key <- paste0("X", key)
  paste0(key, "_")
}

# Layer access dispatches on the assay's class, not on the installed SeuratObject: with
# SeuratObject 5, LayerData() on a v4 Assay subsets without drop = FALSE, so a one-feature or
# one-cell assay comes back as a vector; GetAssayData() returns the stored matrix as it is.
.hb_set_layer <- function(a, layer, value) {
  if (is.null(value)) stop("no matrix given for layer '", layer, "'", call. = FALSE)
  if (inherits(a, "StdAssay")) {
    .so("LayerData<-")(a, layer = layer, value = value)
  } else if (!.hb_matrix_empty(value) && identical(dimnames(value), dimnames(a))) {
    # SetAssayData would check the names, then subset new.data[features, cells]: with the names
    # already in the assay's order that is a full copy of the same matrix (0.5 s at 20M non-zeros)
    # and the copy no longer shares X's pattern. Same result, without the copy (testthat: identical).
    methods::slot(a, layer) <- value
    a
  } else {
    do.call(.so("SetAssayData"), c(list(a), .hb_layer_arg(layer), list(new.data = value)))
  }
}

.hb_get_layer <- function(a, layer) {
  if (inherits(a, "StdAssay")) return(.so("LayerData")(a, layer = layer))
  do.call(.so("GetAssayData"), c(list(a), .hb_layer_arg(layer)))
}

# A v4 Assay's unset slot: a 0 x 0 matrix, or R's `matrix()` (1 x 1 logical NA). SeuratObject's
# IsMatrixEmpty also takes a real 1 cell x 1 feature layer holding NaN or NA for that placeholder,
# which then read back as "no data layer" (found by tests/test_fuzz_roundtrip.py).
.hb_matrix_empty <- function(m) {
  d <- dim(m)
  all(d == 0L) || (all(d == 1L) && is.logical(m) && is.null(dimnames(m)) && is.na(m[1L]))
}

.hb_layers <- function(a) {
  if (inherits(a, "StdAssay")) return(.so("Layers")(a))
  present <- vapply(c("counts", "data", "scale.data"), function(l) !.hb_matrix_empty(.hb_get_layer(a, l)), logical(1))
  c("counts", "data", "scale.data")[present]
}

#' A v4 Assay or a v5 Assay5 holding data (X), and optionally counts, scale.data, other layers
#' (v5 only) and feature metadata (var, a data frame with the features as row names).
#' With `data` NULL the assay is made from `counts` as CreateSeuratObject makes it (v4: data is
#' a copy of counts; v5: a counts layer only). `variable_features`: VariableFeatures, in order.
#' `calcn`: what SeuratObject 5 records in the assay (its Misc "calcN", read by the next
#' `[[<-` of the assay into a Seurat object: whether to compute nCount_/nFeature_ then), as
#' the option Seurat.object.assay.calcn; an assay made by SeuratObject itself records TRUE.
#' @noRd
hb_make_assay <- function(data, counts = NULL, scale_data = NULL, layers = list(), var = NULL,
                          version = NULL, key = "rna_", calcn = FALSE, variable_features = NULL) {
  hb_require(c("Matrix", "SeuratObject"), "hb_make_assay()")
  version <- version %||% hb_default_assay_version()
  op <- options(Seurat.object.assay.calcn = calcn)
  on.exit(options(op), add = TRUE)
  if (version == "v5") {
    if (!hb_seurat_object_v5()) {
      stop("assay_version 'v5' needs SeuratObject >= 5.0.0 (installed: ", utils::packageVersion("SeuratObject"),
           "); use assay_version 'v4' or upgrade SeuratObject", call. = FALSE)
    }
    a <- if (is.null(data)) .so("CreateAssay5Object")(counts = counts) else .so("CreateAssay5Object")(data = data)
  } else if (version == "v4") {
    a <- if (is.null(data)) .so("CreateAssayObject")(counts = counts) else .so("CreateAssayObject")(data = data)
  } else {
    stop("assay version must be 'v4' or 'v5', not '", version, "'", call. = FALSE)
  }
  .so("Key<-")(a, value = key) -> a
  if (!is.null(counts) && !is.null(data)) a <- .hb_set_layer(a, "counts", counts)
  if (!is.null(scale_data)) a <- .hb_set_layer(a, "scale.data", scale_data)
  if (length(layers) && (is.null(names(layers)) || anyNA(names(layers)) || !all(nzchar(names(layers))))) {
    stop("every extra layer needs a non-empty name", call. = FALSE)
  }
  for (name in names(layers)) {
    if (version != "v5") stop("v4 assays hold only counts, data and scale.data, not layer '", name, "'", call. = FALSE)
    a <- .hb_set_layer(a, name, layers[[name]])
  }
  if (!is.null(var) && ncol(var) > 0L) {
    for (col in names(var)) {
      v <- var[[col]]
      names(v) <- rownames(var)
      a[[col]] <- v
    }
  }
  if (length(variable_features)) {
    .so("VariableFeatures<-")(a, value = variable_features) -> a
    if (inherits(a, "StdAssay") && length(variable_features) == 1L) {
      # SeuratObject 5.0.2 recycles a single feature's name down var.features (every feature then
      # reads as variable, NA first): the column as the setter writes it for two or more
      vf <- stats::setNames(rep(NA_character_, nrow(a)), rownames(a))
      vf[variable_features] <- variable_features
      a[["var.features"]] <- vf
    }
  }
  a
}

#' The identities CreateSeuratObject gives new cells: the first "_"-separated field of each
#' cell name, or the project name when that gives no level, more than 100 levels, one level
#' per cell, or NA. Same rule, one vectorised pass.
#' @noRd
.hb_initial_idents <- function(cells, project) {
  first <- vapply(strsplit(cells, "_", fixed = TRUE), `[`, character(1), 1L)
  u <- unique(first)
  if (anyNA(u) || length(u) == 0L || length(u) > 100L || length(u) == length(first)) {
    idents <- factor(rep_len(project, length(cells)))
  } else {
    idents <- factor(first)
  }
  names(idents) <- cells
  idents
}

#' A Seurat object holding one assay `a` (with its key set, as hb_make_assay does), equal to
#' CreateSeuratObject(a, assay, project) with nCount_/nFeature_ not computed.
#'
#' CreateSeuratObject derives the initial identities with one ExtractField() call per cell
#' (about 15 us each: 1.5 s of a 3.8 s conversion of 100k cells, 15 s at 1M). This builds
#' the object the way CreateSeuratObject itself does, with the class generator and the same
#' slots, derives the identities by the same rule in one vectorised pass, adds orig.ident
#' through [[<- and checks the result with validObject(). The testthat suite checks that the
#' result is identical() to CreateSeuratObject's on the installed SeuratObject.
#' @noRd
hb_new_seurat <- function(a, assay = "RNA", project = "SeuratProject") {
  hb_require(c("Matrix", "SeuratObject"), "hb_new_seurat()")
  cells <- colnames(a)
  idents <- .hb_initial_idents(cells, project)
  op <- options(Seurat.object.validate = FALSE)  # as CreateSeuratObject: validated once, below
  on.exit(options(op), add = TRUE)
  obj <- withCallingHandlers(
    methods::new(
      "Seurat", assays = stats::setNames(list(a), assay), meta.data = data.frame(row.names = cells),
      active.assay = assay, active.ident = idents, project.name = project,
      version = utils::packageVersion("SeuratObject")
    ),
    warning = function(w) {  # SeuratObject 5 says so when the option is off
      if (identical(conditionMessage(w), "Not validating Seurat objects")) invokeRestart("muffleWarning")
    }
  )
  options(op)
  obj[["orig.ident"]] <- idents
  methods::validObject(obj)
  obj
}

#' A Seurat object from AnnData parts.
#'
#' @param assay assay name; `data` the X matrix (features x cells; NULL: the assay is made from
#'   `counts` as CreateSeuratObject makes it), `counts`, `scale_data`, `layers` (v5), `var`
#'   feature metadata, `variable_features` its VariableFeatures in order; `obs` cell metadata
#'   whose names are already valid for Seurat; `reductions` a list of lists (name, key,
#'   embeddings, loadings, stdev, and optionally assay); `graphs` a named list of cells x cells
#'   dgCMatrix, `graph_assays` the assay of each (default `assay`); `extra_assays` a named list
#'   of lists with `data` (or NULL and `counts`), and optionally `counts`, `scale_data`,
#'   `layers`, `var`, `variable_features`, `version`; `idents` a factor (one per cell) set as
#'   Idents; `calc_n` TRUE computes nCount_/nFeature_ from counts as CreateSeuratObject does (CalcN),
#'   or is a list of the two vectors (`nCount` double, `nFeature` integer) computed by the caller;
#'   `carry` what hb_seurat_carry() took, put back last; `misc` stored as
#'   `Misc(object, "harmonybridge")`.
#' @noRd
hb_to_seurat <- function(assay, data, counts = NULL, scale_data = NULL, layers = list(), var = NULL,
                         obs = NULL, reductions = list(), graphs = list(), extra_assays = list(),
                         misc = NULL, version = NULL, project = "SeuratProject", variable_features = NULL,
                         idents = NULL, calc_n = FALSE, graph_assays = NULL, carry = NULL) {
  hb_require(c("Matrix", "SeuratObject"), "hb_to_seurat()")
  version <- version %||% hb_default_assay_version()
  # nCount_/nFeature_ are not computed here (obs is the cell metadata), but the main assay
  # records the user's setting as SeuratObject's own assays do, so that Seurat computes them
  # when counts are set later (e.g. SetAssayData(obj, layer = "counts", ...)).
  calcn <- getOption("Seurat.object.assay.calcn") %||% TRUE
  op <- options(Seurat.object.assay.calcn = FALSE)
  on.exit(options(op), add = TRUE)
  a <- hb_make_assay(data, counts, scale_data, layers, var, version, key = .hb_key(tolower(assay)), calcn = calcn,
                     variable_features = variable_features)
  obj <- hb_new_seurat(a, assay = assay, project = project)
  made <- setdiff(colnames(obj[[]]), names(obs))  # orig.ident: removed once obs is in (a data
  # frame with no columns turns the next factor added into integers in SeuratObject 4)
  for (name in names(extra_assays)) {
    ex <- extra_assays[[name]]
    part <- function(field) ex[[field, exact = TRUE]]  # `$` would match "var" to "variable_features"
    obj[[name]] <- hb_make_assay(part("data"), part("counts"), part("scale_data"), part("layers") %||% list(),
                                 part("var"), part("version") %||% version, key = .hb_key(tolower(name)),
                                 variable_features = part("variable_features"))
  }
  n <- if (isTRUE(calc_n)) {
    utils::getFromNamespace("CalcN", "SeuratObject")(obj[[assay]])
  } else if (is.list(calc_n)) {  # the same values, computed by the caller (harmonybridge's Python half)
    lapply(calc_n[c("nCount", "nFeature")], function(v) stats::setNames(v, colnames(obj)))
  }
  if (!is.null(n)) {
    obj[[paste0("nCount_", assay)]] <- n$nCount
    obj[[paste0("nFeature_", assay)]] <- n$nFeature
    made <- setdiff(made, paste0(c("nCount_", "nFeature_"), assay))
  }
  if (!is.null(obs) && ncol(obs) > 0L) {
    for (col in names(obs)) {
      v <- obs[[col]]
      names(v) <- rownames(obs)
      obj[[col]] <- v
    }
  }
  for (col in made) obj[[col]] <- NULL
  if (!is.null(obs) && ncol(obs) > 0L) {  # obs's order (another assay's nCount_/nFeature_ came first)
    md <- methods::slot(obj, "meta.data")
    methods::slot(obj, "meta.data") <- md[, c(names(obs), setdiff(colnames(md), names(obs))), drop = FALSE]
  }
  if (!is.null(idents)) {
    names(idents) <- colnames(obj)
    .so("Idents<-")(obj, value = idents) -> obj
  }
  for (r in reductions) {
    emb <- r$embeddings
    colnames(emb) <- paste0(r$key, seq_len(ncol(emb)))
    loadings <- r$loadings %||% methods::new("matrix")
    if (length(loadings)) colnames(loadings) <- colnames(emb)
    obj[[r$name]] <- .so("CreateDimReducObject")(
      embeddings = emb, loadings = loadings, stdev = r$stdev %||% numeric(0), key = r$key,
      assay = r[["assay"]] %||% assay
    )
  }
  for (name in names(graphs)) {
    g <- .so("as.Graph")(graphs[[name]])
    .so("DefaultAssay<-")(g, value = graph_assays[[name]] %||% assay) -> g
    obj[[name]] <- g
  }
  if (!is.null(misc)) .so("Misc<-")(obj, slot = "harmonybridge", value = misc) -> obj
  if (!is.null(carry)) obj <- hb_seurat_restore(obj, carry)
  obj
}

# ---- Seurat -> AnnData parts ---------------------------------------------------------------

.hb_split_layers <- function(a) {
  layers <- .hb_layers(a)
  layers[grepl("^(counts|data|scale\\.data)\\.", layers)]
}

#' The parts of one assay of a Seurat object, for AnnData; `join`: join split v5 layers on a
#' copy (else refuse them); `globals`: include global reductions (umap) whatever their assay
#' (for the default assay; another assay's parts leave them to it).
#' @noRd
hb_from_seurat <- function(object, assay = NULL, join = TRUE, globals = TRUE) {
  hb_require(c("Matrix", "SeuratObject"), "hb_from_seurat()")
  if (!inherits(object, "Seurat")) {
    stop("expected a Seurat object, got an object of class '", class(object)[1L], "'", call. = FALSE)
  }
  assays <- .so("Assays")(object)
  assay <- assay %||% .so("DefaultAssay")(object)
  if (!assay %in% assays) {
    stop("assay '", assay, "' not in the Seurat object; assays: ", paste(assays, collapse = ", "), call. = FALSE)
  }
  a <- object[[assay]]
  joined <- character(0)
  split <- .hb_split_layers(a)
  if (length(split)) {
    if (!isTRUE(join)) {
      stop("assay '", assay, "' has split layers (", paste(split, collapse = ", "),
           "); join them first with SeuratObject::JoinLayers() or pass join = TRUE", call. = FALSE)
    }
    joined <- split
    a <- .so("JoinLayers")(a)
  }
  version <- hb_assay_version(a)
  layers <- .hb_layers(a)
  get <- function(l) if (l %in% layers) .hb_get_layer(a, l) else NULL
  data <- get("data")
  counts <- get("counts")
  scale_data <- get("scale.data")
  other <- setdiff(layers, c("data", "counts", "scale.data"))
  extra <- lapply(stats::setNames(other, other), get)
  reductions <- list()
  for (name in .so("Reductions")(object)) {
    dr <- object[[name]]
    if (!identical(.so("DefaultAssay")(dr), assay) && !(isTRUE(globals) && .so("IsGlobal")(dr))) next
    loadings <- .so("Loadings")(dr)
    reductions[[name]] <- list(
      name = name, key = .so("Key")(dr), embeddings = .so("Embeddings")(dr),
      loadings = if (length(loadings)) loadings else NULL, stdev = .so("Stdev")(dr),
      total_variance = methods::slot(dr, "misc")[["total.variance"]]
    )
  }
  graphs <- list()
  for (name in .so("Graphs")(object)) {
    g <- object[[name]]
    ga <- .so("DefaultAssay")(g)
    if (!is.null(ga) && length(ga) && !identical(ga, assay)) next
    graphs[[name]] <- methods::as(g, "dgCMatrix")
  }
  raw <- NULL
  raw_name <- paste0(assay, "_raw")
  if (raw_name %in% assays) {
    ra <- object[[raw_name]]
    raw <- list(data = .hb_get_layer(ra, "data"), var = ra[[]], features = rownames(ra))
  }
  var_features <- tryCatch(.so("VariableFeatures")(a), error = function(e) character(0))
  list(
    assay = assay, version = version, assays = assays, joined = joined,
    cells = .so("Cells")(object), features = rownames(a),
    data = data, counts = counts, scale_data = scale_data, layers = extra,
    obs = object[[]], var = a[[]], reductions = reductions, graphs = graphs,
    variable_features = var_features, raw = raw, idents = .so("Idents")(object), assay_class = class(a)[[1L]],
    misc = .so("Misc")(object, slot = "harmonybridge")
  )
}

#' Dense features x cells double matrix or dgCMatrix, whichever `m` is closest to.
#' @noRd
hb_as_plain_matrix <- function(m) {
  if (is.null(m)) return(NULL)
  if (inherits(m, "dgCMatrix")) return(m)
  if (is.matrix(m)) {
    if (!is.double(m)) storage.mode(m) <- "double"
    return(m)
  }
  if (inherits(m, "sparseMatrix")) return(methods::as(methods::as(methods::as(m, "CsparseMatrix"), "generalMatrix"), "dMatrix"))
  as.matrix(m)
}

#' Read an .rds and check it holds a Seurat object.
#' @noRd
hb_read_rds <- function(path) {
  obj <- readRDS(path)
  if (!inherits(obj, "Seurat")) {
    stop("'", path, "' holds an object of class '", class(obj)[1L], "', not a Seurat object", call. = FALSE)
  }
  obj
}

#' Save a Seurat object to an .rds.
#' @noRd
hb_write_rds <- function(object, path) {
  saveRDS(object, path)
  invisible(path)
}
