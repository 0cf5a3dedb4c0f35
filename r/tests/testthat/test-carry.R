skip_if_no_seurat_object <- function() {
  skip_if_not_installed("Matrix")
  skip_if_not_installed("SeuratObject")
}

# pbmc_small (shipped with SeuratObject) has @commands, a JackStraw, projected loadings and pca
# loadings over its variable features only; a Misc entry, a @tools entry and an embedding
# attribute (as uwot leaves one) are added.
carried_object <- function() {
  data("pbmc_small", package = "SeuratObject", envir = environment())
  obj <- suppressWarnings(suppressMessages(SeuratObject::UpdateSeuratObject(pbmc_small)))
  SeuratObject::Misc(obj, slot = "study") <- list(note = "hand", n = 3L)
  methods::slot(obj, "tools")[["CalculateBarcodeInflections"]] <- list(threshold = 12)
  tsne <- obj[["tsne"]]
  emb <- methods::slot(tsne, "cell.embeddings")
  attr(emb, "scaled:center") <- c(tSNE_1 = 0.5, tSNE_2 = -0.5)
  methods::slot(tsne, "cell.embeddings") <- emb
  methods::slot(tsne, "misc") <- list(total.variance = 7)
  obj[["tsne"]] <- tsne
  obj
}

# What a conversion that knows nothing of those parts leaves: plain reductions over all features.
stripped <- function(obj) {
  methods::slot(obj, "commands") <- list()
  methods::slot(obj, "tools") <- list()
  methods::slot(obj, "misc") <- list(harmonybridge = list(record = "{}"))
  for (name in SeuratObject::Reductions(obj)) {
    dr <- obj[[name]]
    emb <- SeuratObject::Embeddings(dr)
    attributes(emb) <- attributes(emb)[c("dim", "dimnames")]
    colnames(emb) <- paste0("X", name, "_", seq_len(ncol(emb)))
    loadings <- SeuratObject::Loadings(dr)
    if (length(loadings)) {
      full <- matrix(0, nrow(obj), ncol(loadings), dimnames = list(rownames(obj), colnames(emb)))
      full[rownames(loadings), ] <- loadings
      loadings <- full
    }
    obj[[name]] <- SeuratObject::CreateDimReducObject(
      embeddings = emb, loadings = loadings, stdev = SeuratObject::Stdev(dr), key = paste0("X", name, "_"),
      assay = SeuratObject::DefaultAssay(obj)
    )
  }
  obj
}

test_that("hb_seurat_restore puts back what hb_seurat_carry took, identical()", {
  skip_if_no_seurat_object()
  obj <- carried_object()
  carry <- hb_seurat_carry(obj)
  expect_true(all(vapply(carry, is.raw, logical(1))))
  plain <- stripped(obj)
  expect_false(identical(plain, obj))
  back <- hb_seurat_restore(plain, carry)
  for (name in SeuratObject::Reductions(obj)) expect_identical(back[[name]], obj[[name]], label = name)
  expect_identical(methods::slot(back, "commands"), methods::slot(obj, "commands"))
  expect_identical(methods::slot(back, "tools"), methods::slot(obj, "tools"))
  # harmonybridge's own record stays, after the user's entries
  expect_identical(SeuratObject::Misc(back, "study"), SeuratObject::Misc(obj, "study"))
  expect_identical(names(methods::slot(back, "misc")), c("study", "harmonybridge"))
})

test_that("hb_seurat_restore skips reductions that are gone and loadings that lost features", {
  skip_if_no_seurat_object()
  obj <- carried_object()
  carry <- hb_seurat_carry(obj)
  plain <- stripped(obj)
  plain[["tsne"]] <- NULL
  keep <- setdiff(rownames(plain), rownames(SeuratObject::Loadings(obj[["pca"]]))[1])
  plain[["pca"]] <- SeuratObject::CreateDimReducObject(
    embeddings = SeuratObject::Embeddings(plain[["pca"]]),
    loadings = SeuratObject::Loadings(plain[["pca"]])[keep, ], key = "Xpca_", assay = "RNA"
  )
  back <- hb_seurat_restore(plain, carry)
  expect_false("tsne" %in% SeuratObject::Reductions(back))
  expect_identical(rownames(SeuratObject::Loadings(back[["pca"]])), keep)
  expect_identical(SeuratObject::Key(back[["pca"]]), "PC_")
})

test_that("hb_to_seurat from counts alone: the layers and nCount_/nFeature_ CreateSeuratObject makes", {
  skip_if_no_seurat_object()
  counts <- Matrix::rsparsematrix(5L, 8L, 0.5, rand.x = function(n) as.numeric(sample.int(20L, n, TRUE)))
  dimnames(counts) <- list(paste0("g", 1:5), paste0("c", 1:8))
  # the class CreateSeuratObject makes by default on this SeuratObject (v4 assays on SeuratObject 5
  # keep an empty data slot there, which harmonybridge does not copy)
  for (version in hb_default_assay_version()) {
    ours <- hb_to_seurat("RNA", NULL, counts = counts, calc_n = TRUE, version = version)
    op <- options(Seurat.object.assay.version = version)
    ref <- suppressWarnings(SeuratObject::CreateSeuratObject(counts))
    options(op)
    layers <- if (version == "v5") "counts" else c("counts", "data")
    expect_identical(.hb_layers(ours[["RNA"]]), layers)
    for (l in layers) {
      expect_identical(.hb_get_layer(ours[["RNA"]], l), .hb_get_layer(ref[["RNA"]], l), label = paste(version, l))
    }
    expect_identical(ours[[c("nCount_RNA", "nFeature_RNA")]], ref[[c("nCount_RNA", "nFeature_RNA")]])
    # the values given by the caller (as the Python half computes them) make the same object
    given <- list(nCount = unname(Matrix::colSums(counts)), nFeature = unname(as.integer(Matrix::colSums(counts > 0))))
    expect_identical(hb_to_seurat("RNA", NULL, counts = counts, calc_n = given, version = version), ours)
  }
})

test_that("hb_to_seurat sets Idents, VariableFeatures, and other assays' layers, reductions and graphs", {
  skip_if_no_seurat_object()
  p <- list(cells = paste0("c_", 1:6), m = Matrix::rsparsematrix(4L, 6L, 0.5))
  dimnames(p$m) <- list(paste0("g", 1:4), p$cells)
  idents <- factor(c("b", "a", "b", "c", "a", "b"), levels = c("c", "b", "a"))
  adt <- Matrix::rsparsematrix(2L, 6L, 0.9)
  dimnames(adt) <- list(c("ADT-1", "ADT-2"), p$cells)
  emb <- matrix(seq_len(12) / 7, 6L, 2L, dimnames = list(p$cells, NULL))
  g <- Matrix::sparseMatrix(i = 1:6, j = c(2:6, 1L), x = 1, dims = c(6L, 6L), dimnames = list(p$cells, p$cells))
  obj <- hb_to_seurat(
    "RNA", p$m, variable_features = c("g3", "g1"), idents = idents,
    extra_assays = list(ADT = list(data = NULL, counts = adt, variable_features = "ADT-2")),
    reductions = list(list(name = "apca", key = "apca_", embeddings = emb, assay = "ADT")),
    graphs = list(ADT_snn = g), graph_assays = list(ADT_snn = "ADT")
  )
  expect_identical(unname(SeuratObject::Idents(obj)), idents)
  expect_identical(names(SeuratObject::Idents(obj)), p$cells)
  expect_identical(SeuratObject::VariableFeatures(obj), c("g3", "g1"))
  expect_identical(SeuratObject::VariableFeatures(obj[["ADT"]]), "ADT-2")
  expect_identical(.hb_get_layer(obj[["ADT"]], "counts"), adt)
  expect_identical(SeuratObject::DefaultAssay(obj[["apca"]]), "ADT")
  expect_identical(SeuratObject::DefaultAssay(obj[["ADT_snn"]]), "ADT")
})

test_that("split v5 layers are carried: joined on the way out, split again by hb_seurat_restore", {
  skip_if_no_seurat_object()
  skip_if(!hb_seurat_object_v5(), "SeuratObject < 5: no Assay5 here")
  counts <- Matrix::rsparsematrix(6L, 9L, 0.6, rand.x = function(n) as.numeric(sample.int(9L, n, TRUE)))
  dimnames(counts) <- list(paste0("g", 1:6), paste0("c", 1:9))
  op <- options(Seurat.object.assay.version = "v5")
  obj <- suppressWarnings(SeuratObject::CreateSeuratObject(counts))
  options(op)
  group <- rep(c("b", "a", "c"), 3)
  obj[["RNA"]] <- split(obj[["RNA"]], f = factor(group, levels = c("b", "a", "c")))
  carry <- hb_seurat_carry(obj)
  joined <- obj
  joined[["RNA"]] <- SeuratObject::JoinLayers(joined[["RNA"]])
  expect_identical(SeuratObject::Layers(joined[["RNA"]]), "counts")
  back <- hb_seurat_restore(joined, carry)
  expect_identical(SeuratObject::Layers(back[["RNA"]]), SeuratObject::Layers(obj[["RNA"]]))
  for (l in SeuratObject::Layers(obj[["RNA"]])) {
    expect_identical(SeuratObject::LayerData(back[["RNA"]], l), SeuratObject::LayerData(obj[["RNA"]], l), label = l)
  }
})
