# Compare a Seurat object with what came back from .rds -> .h5ad -> .rds, slot by slot, and run
# Seurat's next steps on what came back. Plain Seurat in its own Rscript: nothing of harmonybridge.
#
#   Rscript check_seurat_roundtrip.R object ORIGINAL.rds BACK.rds OUT.json
#   Rscript check_seurat_roundtrip.R counts INPUT_DIR BACK.rds OUT.json
#
# `object` writes {"slots": {name: "identical" | what differs}, "steps": {"back": {step: "ok" | error},
# "original": {...}}}. Slot names are written as R accessors ("VariableFeatures(RNA)", "Idents",
# "Misc", "@tools", "@commands", "Loadings(pca)", "Misc(pca)", "global(umap)", "Graphs(ADT_snn)",
# "Assays(ADT)", ...), the way the conversion log is expected to name what it could not carry.
# `counts` compares BACK.rds, written from a counts .h5ad (INPUT_DIR as build_seurat_objects.R
# reads it), with CreateSeuratObject() on the same counts and meta.data.

args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages({
  library(Seurat)
  library(Matrix)
})
mode <- args[[1]]
v5 <- packageVersion("SeuratObject") >= "5.0.0"

# what differs between two R values, or "identical"
differs <- function(a, b) {
  if (identical(a, b)) return("identical")
  if (is.null(b)) return("missing")
  if (is.null(a)) return("not in the original, present after")
  out <- all.equal(a, b, check.attributes = TRUE)
  paste(utils::head(if (isTRUE(out)) "equal but not identical (type or attributes)" else out, 3), collapse = "; ")
}

same_matrix <- function(a, b) {
  if (is.null(b) || (length(b) == 0 && length(a) > 0)) return("missing")
  if (!identical(dim(a), dim(b))) return(sprintf("dimensions %s, were %s", paste(dim(b), collapse = " x "), paste(dim(a), collapse = " x ")))
  if (!identical(dimnames(a), dimnames(b))) return("dimnames differ")
  differs(as.matrix(a), as.matrix(b))
}

# the layers of an assay as a named list (v4 slots that hold something, or v5 layers)
layers_of <- function(a) {
  if (inherits(a, "Assay5")) {
    out <- lapply(SeuratObject::Layers(a), function(l) SeuratObject::LayerData(a, layer = l))
    names(out) <- SeuratObject::Layers(a)
    return(out)
  }
  out <- list(counts = a@counts, data = a@data, scale.data = a@scale.data)
  out[vapply(out, function(m) length(m) > 0, TRUE)]
}

safe <- function(expr) tryCatch(expr, error = function(e) NULL)

compare_objects <- function(orig, back) {
  s <- list()
  s[["Assays"]] <- differs(sort(Assays(orig)), sort(Assays(back)))
  s[["DefaultAssay"]] <- differs(DefaultAssay(orig), DefaultAssay(back))
  s[["meta.data"]] <- differs(orig[[]], back[[]])
  s[["Idents"]] <- differs(Idents(orig), Idents(back))
  s[["Misc"]] <- differs(orig@misc, back@misc)
  s[["@tools"]] <- differs(orig@tools, back@tools)
  s[["@commands"]] <- differs(orig@commands, back@commands)
  for (assay in Assays(orig)) {
    a <- orig[[assay]]
    b <- safe(back[[assay]])
    s[[sprintf("Assays(%s)", assay)]] <- if (is.null(b)) "missing" else "identical"
    la <- layers_of(a)
    lb <- if (is.null(b)) list() else layers_of(b)
    for (layer in names(la)) {
      s[[sprintf("%s(%s)", layer, assay)]] <- same_matrix(la[[layer]], lb[[layer]])
    }
    if (is.null(b)) next
    s[[sprintf("class(%s)", assay)]] <- differs(class(a), class(b))
    s[[sprintf("VariableFeatures(%s)", assay)]] <- differs(VariableFeatures(a), VariableFeatures(b))
    s[[sprintf("Key(%s)", assay)]] <- differs(Key(a), Key(b))
    s[[sprintf("feature metadata(%s)", assay)]] <- differs(a[[]], b[[]])
    if (inherits(a, "SCTAssay")) {
      s[[sprintf("SCTResults(%s)", assay)]] <- differs(a@SCTModel.list, safe(b@SCTModel.list))
    }
  }
  for (red in Reductions(orig)) {
    a <- orig[[red]]
    b <- safe(back[[red]])
    s[[sprintf("Reductions(%s)", red)]] <- if (is.null(b)) "missing" else "identical"
    if (is.null(b)) next
    s[[sprintf("Embeddings(%s)", red)]] <- same_matrix(Embeddings(a), Embeddings(b))
    s[[sprintf("Loadings(%s)", red)]] <- same_matrix(Loadings(a), Loadings(b))
    s[[sprintf("Stdev(%s)", red)]] <- differs(Stdev(a), Stdev(b))
    s[[sprintf("Key(%s)", red)]] <- differs(Key(a), Key(b))
    s[[sprintf("DefaultAssay(%s)", red)]] <- differs(DefaultAssay(a), DefaultAssay(b))
    s[[sprintf("global(%s)", red)]] <- differs(IsGlobal(a), IsGlobal(b))
    s[[sprintf("Misc(%s)", red)]] <- differs(a@misc, b@misc)
  }
  for (g in Graphs(orig)) {
    a <- orig[[g]]
    b <- safe(back[[g]])
    if (is.null(b)) {
      s[[sprintf("Graphs(%s)", g)]] <- "missing"
      next
    }
    s[[sprintf("Graphs(%s)", g)]] <- same_matrix(a, b)
    s[[sprintf("DefaultAssay(%s)", g)]] <- differs(DefaultAssay(a), DefaultAssay(b))
  }
  s
}

# Seurat's next steps, each "ok" or the error. FindMarkers needs joined layers (Seurat 5 says
# "Please run JoinLayers"), so split layers are joined first, as users do.
next_steps <- function(obj, ident) {
  run <- function(expr) tryCatch({ force(expr); "ok" }, error = function(e) conditionMessage(e))
  joined <- function(o) {
    a <- o[[DefaultAssay(o)]]
    if (inherits(a, "Assay5") && length(SeuratObject::Layers(a, search = "counts")) > 1) o <- SeuratObject::JoinLayers(o)
    o
  }
  list(
    NormalizeData = run(NormalizeData(obj, verbose = FALSE)),
    RunPCA = run(suppressWarnings(RunPCA(obj, npcs = 5, verbose = FALSE))),
    FindMarkers = run(FindMarkers(joined(obj), ident.1 = ident, verbose = FALSE, logfc.threshold = 0.5))
  )
}

if (mode == "object") {
  orig <- readRDS(args[[2]])
  back <- readRDS(args[[3]])
  ident <- levels(Idents(orig))[[1]]
  out <- list(slots = compare_objects(orig, back), ident = ident,
              steps = list(original = next_steps(orig, ident), back = next_steps(back, ident)))
} else if (mode == "counts") {
  input <- args[[2]]
  counts <- methods::as(Matrix::readMM(file.path(input, "counts.mtx")), "CsparseMatrix")
  rownames(counts) <- readLines(file.path(input, "genes.txt"))
  colnames(counts) <- readLines(file.path(input, "cells.txt"))
  meta <- utils::read.delim(file.path(input, "meta.tsv"), row.names = 1, check.names = FALSE, stringsAsFactors = TRUE)
  storage.mode(counts@x) <- "double"
  ref <- suppressWarnings(CreateSeuratObject(counts = counts, meta.data = meta))
  back <- readRDS(args[[3]])
  s <- list()
  la <- layers_of(ref[["RNA"]])
  lb <- layers_of(back[[DefaultAssay(back)]])
  for (layer in names(la)) s[[sprintf("%s(RNA)", layer)]] <- same_matrix(la[[layer]], lb[[layer]])
  for (col in c("nCount_RNA", "nFeature_RNA")) s[[sprintf("meta.data$%s", col)]] <- differs(ref[[col]][[1]], safe(back[[col]][[1]]))
  # counts come first: normalize, then the rest of the pipeline (as after CreateSeuratObject)
  prepared <- function(o) {
    o <- NormalizeData(o, verbose = FALSE)
    ScaleData(FindVariableFeatures(o, verbose = FALSE), verbose = FALSE)
  }
  steps <- function(o) {
    ok <- tryCatch({ o <- prepared(o); "ok" }, error = function(e) conditionMessage(e))
    if (ok != "ok") return(list(NormalizeData = ok, RunPCA = ok, FindMarkers = ok))
    Idents(o) <- o$cell_type
    next_steps(o, levels(Idents(o))[[1]])
  }
  out <- list(slots = s, steps = list(original = steps(ref), back = steps(back)))
} else {
  stop("mode must be 'object' or 'counts'", call. = FALSE)
}
writeLines(jsonlite::toJSON(out, auto_unbox = TRUE, pretty = TRUE), args[[4]])
