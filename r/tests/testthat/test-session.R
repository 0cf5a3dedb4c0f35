# The session's R side (r/R/session.R): what SeuratSession reads back after calls of Seurat
# functions, on a v4 Assay and (SeuratObject 5) a v5 Assay5, through the one layer helper.

for (version in c("v4", "v5")) {
  test_that(paste("hb_session_diff names what a call changed,", version, "assay"), {
    skip_if_not_installed("Seurat")
    if (version == "v5") skip_if_not(hb_seurat_object_v5(), "needs SeuratObject >= 5")
    old <- make_seurat(assay_version = version)
    a <- old[["RNA"]]
    expect_setequal(.hb_layers(a), c("counts", "data", "scale.data"))
    expect_true("vst.variance" %in% names(.hb_var(a)) || any(grepl("vf_vst", names(.hb_var(a)))))
    new <- Seurat::FindNeighbors(old, dims = 1:5, verbose = FALSE)
    new <- Seurat::FindClusters(new, resolution = 0.5, verbose = FALSE)
    d <- hb_session_diff(old, new, "RNA")
    expect_true("seurat_clusters" %in% d$meta)
    expect_setequal(d$graphs, c("RNA_nn", "RNA_snn"))
    expect_identical(d$layers, character(0))
    expect_true(d$idents)
    new2 <- Seurat::NormalizeData(old, normalization.method = "RC", verbose = FALSE)
    expect_identical(hb_session_diff(old, new2, "RNA")$layers, "data")
  })
}

test_that("hb_session_eval calls a function by symbols and collects its warnings", {
  f <- function(object, n) {
    warning("careful")
    object + n
  }
  out <- hb_session_eval(f, "f", list(1:3, n = 2L))
  expect_identical(out$value, 3:5)
  expect_identical(out$warnings, "careful")
})

test_that("hb_session_find finds Seurat functions and refuses a malformed name", {
  skip_if_not_installed("SeuratObject")
  found <- hb_session_find("DefaultAssay")
  expect_true(found$package %in% c("Seurat", "SeuratObject"))  # Seurat re-exports SeuratObject's
  expect_identical(found$name, "DefaultAssay")
  expect_true("object" %in% found$args)
  expect_error(hb_session_find("a::"), "pkg::name")
})
