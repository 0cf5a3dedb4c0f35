test_that("hb_require names the package, who needs it and the install command", {
  expect_error(
    hb_require(c("stats", "surely.not.a.package"), "f()"),
    "f() needs it: R package 'surely.not.a.package' is not installed; in R: install.packages('surely.not.a.package')",
    fixed = TRUE
  )
  expect_error(hb_require("surely.not.a.package"), "^R package 'surely.not.a.package' is not installed")
  expect_true(hb_require(c("stats", "utils")))
  # the known packages get their Debian command
  expect_match(.hb_install_hints[["Seurat"]], "apt-get install r-cran-seurat", fixed = TRUE)
})

test_that("errors come without the internal call", {
  e <- tryCatch(hb_split_strings("a\x1fb\x1f", 3L), error = function(e) e)
  expect_null(conditionCall(e))
  e <- tryCatch(hb_run_harmony(matrix(1, 2, 3), data.frame(b = 1:2), "b"), error = function(e) e)
  expect_null(conditionCall(e))
  e <- tryCatch(.hb_abort("x {1 + 1}"), error = function(e) e)
  expect_null(conditionCall(e))
  expect_match(conditionMessage(e), "x 2", fixed = TRUE)
})

test_that("layers are named with layer= on SeuratObject 5 and slot= on 4", {
  skip_if_not_installed("SeuratObject")
  expected <- if (utils::packageVersion("SeuratObject") >= "5.0.0") "layer" else "slot"
  expect_identical(.hb_layer_arg("scale.data"), stats::setNames(list("scale.data"), expected))
})

test_that("reading and writing a v4 assay's layers gives no deprecation warning", {
  skip_if_not_installed("Matrix")
  skip_if_not_installed("SeuratObject")
  m <- Matrix::rsparsematrix(4L, 5L, 0.5)
  dimnames(m) <- list(paste0("g", 1:4), paste0("c", 1:5))
  a <- hb_make_assay(m, version = "v4")
  expect_no_warning(a <- .hb_set_layer(a, "counts", m))
  expect_no_warning(got <- .hb_get_layer(a, "counts"))
  expect_equal(got, m)
})

test_that("only the user-facing functions are exported; the hb_* helpers stay reachable in the namespace", {
  expect_setequal(getNamespaceExports("harmonybridge"), c("RunHarmonyPy", "CrossCheckHarmony", "harmonybridge_python"))
  ns <- asNamespace("harmonybridge")
  for (f in c("hb_to_seurat", "hb_from_seurat", "hb_run_harmony", "hb_seurat_add_harmony", "hb_seurat_cluster",
              "hb_read_rds", "hb_write_rds", "hb_versions", "hb_harmony_build", "hb_seurat_object_v5")) {
    expect_true(is.function(get(f, envir = ns)), label = f)
  }
  expect_true(is.function(getS3method("RunHarmonyPy", "Seurat")))
  expect_true(is.function(getS3method("RunHarmonyPy", "default")))
})
