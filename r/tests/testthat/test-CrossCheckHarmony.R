test_that("CrossCheckHarmony runs both engines on a Seurat object and returns the verdict, tables and report", {
  skip_if_no_harmonybridge_python()
  skip_if_not_installed("harmony")
  obj <- make_seurat()
  before <- obj
  report <- tempfile(fileext = ".html")
  on.exit(unlink(report), add = TRUE)
  set.seed(99)
  state <- .Random.seed
  check <- CrossCheckHarmony(obj, "batch", label = "type", seeds = 2, report = report, verbose = FALSE)
  expect_identical(.Random.seed, state)  # R harmony's set.seed() calls left the caller's numbers alone
  expect_identical(obj, before)
  expect_s3_class(check, "HarmonyCrossCheck")
  expect_identical(check$verdict, "agree")
  expect_true(check$passed)
  a <- check$agreement
  expect_s3_class(a, "data.frame")
  expect_identical(a$key, c("pc_r_min", "pc_r_median", "rel_l2", "knn_overlap", "ari", "nmi"))
  expect_identical(names(a), c("key", "metric", "between engines", "within python (worst)", "within R (worst)", "limit", "agree"))
  expect_true(all(a$agree == "yes"))
  expect_gt(a[["between engines"]][a$key == "pc_r_median"], 0.99)
  i <- check$integration
  expect_identical(i$condition, c("uncorrected", "python", "r"))
  expect_true("label LISI (type)" %in% names(i))
  expect_identical(check$versions[["harmony"]], as.character(utils::packageVersion("harmony")))
  expect_identical(check$versions[["harmonypy"]], reticulate::import("importlib.metadata")$version("harmonypy"))
  json <- check$json
  expect_match(json, '"n_seeds": 2', fixed = TRUE)
  expect_match(json, '"seeds": [\n      0,\n      1\n    ]', fixed = TRUE)
  html <- readLines(report, warn = FALSE)
  expect_true(any(grepl("<html", html, fixed = TRUE)))
  expect_true(any(grepl("data:image/png;base64", html, fixed = TRUE)))
  expect_identical(check$report, report)
  expect_output(print(check), "engines AGREE")
})

test_that("CrossCheckHarmony refuses bad arguments before running anything", {
  skip_if_not_installed("harmony")
  obj <- make_seurat(n = 120L, npcs = 5L)
  expect_error(CrossCheckHarmony(obj, "batch", seeds = 1), "`seeds` must be a whole number of at least 2", fixed = TRUE)
  expect_error(CrossCheckHarmony(obj, "batch", label = "celltype"), "\"celltype\" is not a column", fixed = TRUE)
  expect_error(CrossCheckHarmony(obj, "batch", report = "/nonexistent/dir/r.html"), "The folder of `report` does not exist", fixed = TRUE)
  expect_error(CrossCheckHarmony(list(), "batch"), "must be a Seurat object")
})

test_that("CrossCheckHarmony passes batch.prop.cutoff to both engines", {
  skip_if_no_harmonybridge_python()
  skip_if_not_installed("harmony")
  obj <- make_seurat()
  check <- CrossCheckHarmony(obj, "batch", seeds = 2, .options = harmony::harmony_options(batch.prop.cutoff = 0.2), verbose = FALSE)
  found <- regmatches(check$json, gregexpr('"batch_prop_cutoff": [^,\n}]+', check$json))[[1]]
  expect_length(found, 2L)  # the parameters each engine ran with
  expect_identical(unique(found), '"batch_prop_cutoff": 0.2')
  expect_identical(check$verdict, "agree")
})
