# harmonypy run directly in a separate Python process, on the same doubles: the reference
# RunHarmonyPy() must equal bit for bit. `kwargs` is Python source for harmonypy's keywords.
harmonypy_reference <- function(m, meta, vars_use, kwargs) {
  dir <- tempfile("hbref")
  dir.create(dir)
  on.exit(unlink(dir, recursive = TRUE), add = TRUE)
  writeBin(as.vector(t(m)), file.path(dir, "z.bin"))  # C order, cells x dims
  for (v in vars_use) writeLines(as.character(meta[[v]]), file.path(dir, paste0(v, ".txt")))
  script <- file.path(dir, "ref.py")
  writeLines(c(
    "import sys, numpy as np, pandas as pd, harmonypy",
    sprintf("Z = np.fromfile(sys.argv[1] + '/z.bin', dtype=np.float64).reshape(%d, %d)", nrow(m), ncol(m)),
    sprintf("keys = [%s]", paste0("'", vars_use, "'", collapse = ", ")),
    "meta = pd.DataFrame({k: open(sys.argv[1] + '/' + k + '.txt').read().splitlines() for k in keys})",
    sprintf("ho = harmonypy.run_harmony(Z, meta, keys, verbose=False, %s)", kwargs),
    "np.ascontiguousarray(ho.Z_corr, dtype=np.float64).tofile(sys.argv[1] + '/out.bin')"
  ), script)
  out <- system2(harmonybridge_python_path(), c(script, dir), stdout = TRUE, stderr = TRUE)
  status <- attr(out, "status")
  if (!is.null(status) && status != 0) stop("reference harmonypy failed: ", paste(out, collapse = "\n"))
  z <- readBin(file.path(dir, "out.bin"), "double", n = length(m))
  matrix(z, nrow(m), ncol(m), byrow = TRUE)
}

pcs_and_meta <- function(n = 450L, d = 8L, seed = 11L) {
  old <- if (exists(".Random.seed", globalenv())) get(".Random.seed", globalenv()) else NULL
  on.exit(if (!is.null(old)) assign(".Random.seed", old, globalenv()), add = TRUE)
  set.seed(seed)
  batch <- sample(c("x", "y", "z"), n, TRUE)
  donor <- sample(c("d1", "d2"), n, TRUE)
  m <- matrix(stats::rnorm(n * d), n, d) + outer(match(batch, c("x", "y", "z")), seq_len(d) / d)
  dimnames(m) <- list(paste0("c", seq_len(n)), paste0("PC_", seq_len(d)))
  list(m = m, meta = data.frame(batch = batch, donor = donor, row.names = rownames(m)))
}

test_that("RunHarmonyPy on a matrix equals harmonypy run in Python with the same seed, bit for bit", {
  skip_if_no_harmonybridge_python()
  d <- pcs_and_meta()
  z <- RunHarmonyPy(d$m, d$meta, "batch", seed = 5, verbose = FALSE)
  ref <- harmonypy_reference(d$m, d$meta, "batch", paste(
    "theta=2.0, lamb=None, sigma=0.1, nclust=15, tau=0, block_size=0.05, max_iter_harmony=10,",
    "max_iter_kmeans=4, epsilon_cluster=1e-3, epsilon_harmony=1e-2, alpha=0.2, batch_prop_cutoff=1e-5,",
    "random_state=5, ncores=1"
  ))
  expect_identical(unname(z), ref)
  expect_identical(dimnames(z), dimnames(d$m))
  # harmony moved the cells, and another seed gives another result
  expect_gt(max(abs(z - d$m)), 0.1)
  expect_false(identical(z, RunHarmonyPy(d$m, d$meta, "batch", seed = 6, verbose = FALSE)))
})

test_that("every RunHarmony parameter and harmony_options() reach harmonypy under its own name", {
  skip_if_no_harmonybridge_python()
  d <- pcs_and_meta()
  opts <- list(alpha = 0.3, tau = 4, block.size = 0.1, max.iter.cluster = 7, epsilon.cluster = 1e-4,
               epsilon.harmony = 1e-3, batch.prop.cutoff = 1e-4)
  if (requireNamespace("harmony", quietly = TRUE)) opts <- do.call(harmony::harmony_options, opts)
  z <- RunHarmonyPy(t(d$m), d$meta, c("batch", "donor"), theta = c(1, 3), sigma = 0.2, lambda = c(0.5, 2),
                    nclust = 9, max_iter = 4, ncores = 2, .options = opts, seed = 9, verbose = FALSE)
  ref <- harmonypy_reference(d$m, d$meta, c("batch", "donor"), paste(
    "theta=[1.0, 3.0], lamb=[0.5, 2.0], sigma=0.2, nclust=9, tau=4.0, block_size=0.1, max_iter_harmony=4,",
    "max_iter_kmeans=7, epsilon_cluster=1e-4, epsilon_harmony=1e-3, alpha=0.3, batch_prop_cutoff=1e-4,",
    "random_state=9, ncores=2"
  ))
  expect_identical(unname(z), ref)  # dims x cells in, cells x dims out, as RunHarmony
  no_stop <- RunHarmonyPy(d$m, d$meta, "batch", max_iter = 3, early_stop = FALSE, seed = 9, verbose = FALSE,
                          .options = list(epsilon.harmony = 0.5))
  ref <- harmonypy_reference(d$m, d$meta, "batch", "nclust=15, max_iter_harmony=3, epsilon_harmony=float('-inf'), random_state=9, ncores=1")
  expect_identical(unname(no_stop), ref)
})

test_that("without a seed RunHarmonyPy takes it from R's random numbers, as RunHarmony does", {
  skip_if_no_harmonybridge_python()
  d <- pcs_and_meta(n = 200L)
  set.seed(3)
  a <- RunHarmonyPy(d$m, d$meta$batch, verbose = FALSE)  # a vector of labels, as RunHarmony takes
  after <- stats::runif(1)
  set.seed(3)
  b <- RunHarmonyPy(d$m, d$meta, "batch", verbose = FALSE)
  expect_identical(a, b)
  expect_identical(stats::runif(1), after)
  set.seed(4)
  expect_false(identical(a, RunHarmonyPy(d$m, d$meta, "batch", verbose = FALSE)))
})

test_that("RunHarmonyPy on a Seurat object adds what RunHarmony adds", {
  skip_if_no_harmonybridge_python()
  obj <- make_seurat()
  out <- RunHarmonyPy(obj, "batch", seed = 2, verbose = FALSE)
  red <- out[["harmony"]]
  emb <- SeuratObject::Embeddings(out, "harmony")
  expect_identical(SeuratObject::Key(red), "harmony_")
  expect_identical(colnames(emb), paste0("harmony_", 1:10))
  expect_identical(rownames(emb), colnames(obj))
  expect_identical(SeuratObject::DefaultAssay(red), "RNA")
  expect_equal(SeuratObject::Stdev(red), as.numeric(apply(emb, 2, stats::sd)))
  # the same numbers as the matrix method on the PCA embedding
  direct <- RunHarmonyPy(SeuratObject::Embeddings(obj, "pca"), obj[[]], "batch", seed = 2, verbose = FALSE)
  expect_identical(unname(emb), unname(direct))
  # feature loadings projected as ProjectDim does, on the variable features' scale.data
  proj <- SeuratObject::Loadings(red, projected = TRUE)
  expect_identical(dim(proj), c(200L, 10L))
  scaled <- as.matrix(.hb_get_layer(obj[["RNA"]], "scale.data"))
  expect_equal(proj, scaled[rownames(proj), ] %*% emb, ignore_attr = TRUE)
  rec <- SeuratObject::Misc(red, "harmonybridge")
  expect_identical(rec$engine, "harmonypy")
  expect_identical(rec$seed, 2L)
  expect_identical(rec$params$nclust, 12L)
  # the rest of the object is untouched
  expect_identical(SeuratObject::Embeddings(out, "pca"), SeuratObject::Embeddings(obj, "pca"))
  expect_identical(out[[]], obj[[]])
  skip_if_not_installed("harmony")
  set.seed(2)
  theirs <- withCallingHandlers(  # RunHarmony's own call of Seurat::ProjectDim warns about its log name
    harmony::RunHarmony(obj, "batch", verbose = FALSE)[["harmony"]],
    warning = function(w) if (grepl("Invalid name supplied", conditionMessage(w))) invokeRestart("muffleWarning")
  )
  expect_identical(SeuratObject::Key(theirs), SeuratObject::Key(red))
  expect_identical(dimnames(SeuratObject::Embeddings(theirs)), dimnames(emb))
  expect_identical(dimnames(SeuratObject::Loadings(theirs, projected = TRUE)), dimnames(proj))
  expect_identical(SeuratObject::DefaultAssay(theirs), SeuratObject::DefaultAssay(red))
  # the two engines agree on these cells, as far as one seed shows (they use different random
  # numbers; a seed may end in another local optimum for a minor PC, hence the median)
  r <- diag(stats::cor(SeuratObject::Embeddings(theirs), emb))
  expect_gt(stats::median(r), 0.99)
})

test_that("RunHarmonyPy on a Seurat object: dims.use, reduction.save, project.dim = FALSE", {
  skip_if_no_harmonybridge_python()
  obj <- make_seurat()
  out <- RunHarmonyPy(obj, "batch", dims.use = 1:5, reduction.save = "hpy", project.dim = FALSE, seed = 1, verbose = FALSE)
  emb <- SeuratObject::Embeddings(out, "hpy")
  expect_identical(colnames(emb), paste0("hpy_", 1:5))
  expect_identical(dim(SeuratObject::Loadings(out[["hpy"]], projected = TRUE)), c(0L, 0L))
  direct <- RunHarmonyPy(SeuratObject::Embeddings(obj, "pca")[, 1:5], obj[[]], "batch", seed = 1, verbose = FALSE)
  expect_identical(unname(emb), unname(direct))
})

test_that("RunHarmonyPy works on v4 and v5 assays alike", {
  skip_if_no_harmonybridge_python()
  skip_if_not(hb_seurat_object_v5(), "SeuratObject < 5: no Assay5 here")
  v4 <- RunHarmonyPy(make_seurat(assay_version = "v4"), "batch", seed = 1, verbose = FALSE)
  v5 <- RunHarmonyPy(make_seurat(assay_version = "v5"), "batch", seed = 1, verbose = FALSE)
  expect_s4_class(v5[["RNA"]], "Assay5")
  # the same PCA (up to floating point) gives the same correction
  expect_equal(SeuratObject::Embeddings(v4, "pca"), SeuratObject::Embeddings(v5, "pca"), tolerance = 1e-10)
  expect_equal(SeuratObject::Embeddings(v4, "harmony"), SeuratObject::Embeddings(v5, "harmony"), tolerance = 1e-6)
  expect_equal(SeuratObject::Loadings(v4[["harmony"]], projected = TRUE), SeuratObject::Loadings(v5[["harmony"]], projected = TRUE))
})

test_that("RunHarmonyPy's errors name the argument and the fix, and leave the object as it was", {
  skip_if_no_harmonybridge_python()
  obj <- make_seurat(n = 120L, npcs = 5L)
  before <- obj
  expect_error(RunHarmonyPy(obj, "batch", reduction.use = "umap"), "is not a reduction of the Seurat object")
  expect_error(RunHarmonyPy(obj, "batch", reduction.use = "umap"), "Reductions: \"pca\"", fixed = TRUE)
  expect_error(RunHarmonyPy(obj, "sample"), "\"sample\" is not a column of the Seurat object's meta.data", fixed = TRUE)
  expect_error(RunHarmonyPy(obj, "batch", dims.use = 1:50), "does not have")
  expect_error(RunHarmonyPy(obj, "batch", dims.use = 1), "at least two dimensions")
  expect_error(RunHarmonyPy(obj, "batch", return_object = TRUE), "return_object")
  expect_error(RunHarmonyPy(obj, "batch", max.iter.harmony = 3), "Unknown argument `max.iter.harmony`", fixed = TRUE)
  expect_error(RunHarmonyPy(obj, "batch", .options = list(tua = 1)), "unknown option \"tua\"", fixed = TRUE)
  expect_error(RunHarmonyPy(obj, "batch", sigma = "a"), "`sigma` must be one number", fixed = TRUE)
  expect_error(RunHarmonyPy(obj, "batch", theta = c(1, 2), seed = 1), "theta has 2 values but there are 1 batch covariates")
  expect_error(RunHarmonyPy(obj, "batch", nclust = 500, seed = 1), "nclust=500 must be smaller than the number of cells")
  obj$one <- "a"
  obj$holes <- ifelse(seq_len(ncol(obj)) %% 7 == 0, NA, "b1")
  expect_error(RunHarmonyPy(obj, "one"), "has one batch only")
  expect_error(RunHarmonyPy(obj, "holes"), "Column \"holes\" has 17 cells without a batch label", fixed = TRUE)
  obj$one <- NULL
  obj$holes <- NULL
  expect_identical(obj, before)
  m <- matrix(1, 10, 3)
  expect_error(RunHarmonyPy(m, data.frame(b = rep(1:2, 6)), "b"), "describes 12 cells")
  m[2, 2] <- NA
  expect_error(RunHarmonyPy(m, data.frame(b = rep(1:2, 5)), "b"), "finite")
})
