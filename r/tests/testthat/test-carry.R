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
