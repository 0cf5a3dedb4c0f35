skip_if_no_seurat_object <- function() {
  skip_if_not_installed("Matrix")
  skip_if_not_installed("SeuratObject")
}

small_parts <- function(n = 6L, g = 4L) {
  cells <- paste0("c_", seq_len(n))
  features <- paste0("g", seq_len(g))
  m <- Matrix::rsparsematrix(g, n, 0.5)
  dimnames(m) <- list(features, cells)
  list(cells = cells, features = features, m = m)
}

test_that("hb_dgc wraps CSC arrays without copying them", {
  skip_if_no_seurat_object()
  i <- c(0L, 2L, 1L)
  p <- c(0L, 2L, 3L)
  x <- c(1, 2, 3)
  m <- hb_dgc(i, p, x, 3L, 2L, c("a", "b", "c"), c("u", "v"))
  expect_s4_class(m, "dgCMatrix")
  expect_true(methods::validObject(m))
  expect_equal(as.matrix(m), matrix(c(1, 0, 2, 0, 3, 0), 3, dimnames = list(c("a", "b", "c"), c("u", "v"))))
  # the x slot is x itself, not a copy: the same address (read from inspect(), which every R build has)
  address <- function(v) sub("^@([0-9a-fx]+) .*", "\\1", utils::capture.output(.Internal(inspect(v)))[1L])
  m2 <- hb_dgc(i, p, x, 3L, 2L, NULL, NULL)
  expect_identical(address(m2@x), address(x))
  expect_identical(address(m2@i), address(i))
  if (capabilities("profmem")) {  # and no duplicate is made on the way (tracemem needs profmem)
    untracemem(x)
    tracemem(x)
    expect_silent(m2 <- hb_dgc(i, p, x, 3L, 2L, NULL, NULL))
    untracemem(x)
  }
})

test_that("strings cross joined, with NA and empty strings", {
  s <- c("a", "", "b c", "é", "")
  joined <- paste0(paste0(s, collapse = "\x1f"), "\x1f")
  expect_identical(hb_split_strings(joined, length(s)), s)
  expect_identical(hb_split_strings(joined, length(s), na = c(FALSE, TRUE, FALSE, FALSE, FALSE)),
                   c("a", NA, "b c", "é", ""))
  expect_identical(hb_split_strings("", 0L), character(0))
  expect_error(hb_split_strings(joined, 3L), "expected 3 strings")
  out <- hb_join_strings(c("x", NA, "y"))
  expect_identical(out$joined, "x\x1f\x1fy")
  expect_identical(out$na, c(FALSE, TRUE, FALSE))
})

test_that("hb_data_frame keeps odd column names and types", {
  df <- hb_data_frame(list(`my col` = factor(c("a", NA), levels = c("b", "a")), `1x` = c(TRUE, NA)), c("r1", "r2"))
  expect_identical(names(df), c("my col", "1x"))
  expect_identical(levels(df[["my col"]]), c("b", "a"))
  expect_identical(rownames(df), c("r1", "r2"))
})

test_that("hb_to_seurat builds a Seurat object through the accessors, metadata exact", {
  skip_if_no_seurat_object()
  s <- small_parts()
  f <- factor(c("a", "b", NA, "a", "a", "b"), levels = c("b", "a", "unused"))
  o <- factor(c("lo", "hi", "lo", "hi", "lo", "hi"), levels = c("lo", "hi"), ordered = TRUE)
  obs <- hb_data_frame(list(batch = f, stage = o, n = 1:6), s$cells)
  var <- hb_data_frame(list(hv = c(TRUE, FALSE, NA, TRUE)), s$features)
  emb <- matrix(rnorm(12), 6, 2, dimnames = list(s$cells, NULL))
  g <- methods::as(Matrix::Diagonal(6, x = 1), "CsparseMatrix")
  g <- methods::as(methods::as(g, "generalMatrix"), "dMatrix")
  dimnames(g) <- list(s$cells, s$cells)
  obj <- hb_to_seurat("RNA", s$m, counts = s$m, obs = obs, var = var, version = "v4",
                      reductions = list(list(name = "pca", key = "PC_", embeddings = emb, stdev = c(2, 1))),
                      graphs = list(RNA_snn = g),
                      misc = list(record = "{}"))
  expect_s4_class(obj, "Seurat")
  md <- obj[[]]
  expect_identical(names(md), c("batch", "stage", "n"))
  expect_identical(levels(md$batch), c("b", "a", "unused"))
  expect_true(is.ordered(md$stage))
  expect_identical(SeuratObject::Key(obj[["pca"]]), "PC_")
  expect_equal(SeuratObject::Stdev(obj, "pca"), c(2, 1))
  expect_identical(SeuratObject::Graphs(obj), "RNA_snn")
  expect_identical(SeuratObject::Misc(obj, "harmonybridge"), list(record = "{}"))
  expect_identical(obj[["RNA"]][["hv"]][[1]], c(TRUE, FALSE, NA, TRUE))
})

test_that("hb_new_seurat is identical to CreateSeuratObject, idents included", {
  skip_if_no_seurat_object()
  so <- function(name) getExportedValue("SeuratObject", name)
  versions <- if (hb_seurat_object_v5()) c("v4", "v5") else "v4"
  namings <- list(
    prefixed = paste0(rep(c("s1", "s2", "s3"), each = 4L), "_", seq_len(12L)),   # 3 levels -> idents s1..s3
    unique = paste0("cell", seq_len(12L)),                                         # one level per cell -> project
    one = paste0("AAAC-", seq_len(12L)),                                           # no "_": unique -> project
    many = paste0("b", seq_len(120L) %% 101L, "_", seq_len(120L)),                # 101 levels -> project
    lead = paste0(c("_x", "y_z"), seq_len(12L))                                   # empty first field
  )
  op <- options(Seurat.object.assay.calcn = FALSE)
  on.exit(options(op), add = TRUE)
  for (version in versions) {
    for (nm in names(namings)) {
      cells <- namings[[nm]]
      m <- Matrix::rsparsematrix(5L, length(cells), 0.5)
      dimnames(m) <- list(paste0("g", 1:5), cells)
      a <- hb_make_assay(m, version = version)
      ours <- hb_new_seurat(a, assay = "RNA", project = "proj")
      ref <- so("CreateSeuratObject")(a, assay = "RNA", project = "proj")
      expect_identical(so("Idents")(ours), so("Idents")(ref), label = paste(version, nm))
      expect_identical(ours[[]], ref[[]], label = paste(version, nm))
      expect_identical(ours, ref, label = paste(version, nm))
    }
  }
  m <- Matrix::rsparsematrix(3L, 4L, 0.5)
  dimnames(m) <- list(paste0("g", 1:3), c("b_1", "a_2", "b_3", "a_4"))
  expect_identical(levels(so("Idents")(hb_new_seurat(hb_make_assay(m), project = "p"))), c("a", "b"))
})

test_that("hb_from_seurat returns the parts, and refuses what it cannot read", {
  skip_if_no_seurat_object()
  s <- small_parts()
  obj <- hb_to_seurat("RNA", s$m, obs = hb_data_frame(list(), s$cells), version = "v4")
  parts <- hb_from_seurat(obj)
  expect_identical(parts$assay, "RNA")
  expect_identical(parts$cells, s$cells)
  expect_equal(parts$data, s$m)
  expect_null(parts$counts)
  expect_error(hb_from_seurat(obj, assay = "ADT"), "assay 'ADT' not in the Seurat object; assays: RNA")
  expect_error(hb_from_seurat(list()), "expected a Seurat object")
})

test_that("a v4 assay of one feature or one cell keeps its matrices two-dimensional", {
  skip_if_no_seurat_object()
  for (dims in list(c(1L, 3L), c(3L, 1L))) {
    s <- small_parts(n = dims[2L], g = dims[1L])
    obj <- hb_to_seurat("RNA", s$m, counts = s$m, obs = hb_data_frame(list(), s$cells), version = "v4")
    parts <- hb_from_seurat(obj)
    expect_equal(parts$data, s$m)
    expect_equal(parts$counts, s$m)
  }
})

test_that("extra layers need names and matrices", {
  skip_if_no_seurat_object()
  s <- small_parts()
  skip_if_not(hb_seurat_object_v5(), "SeuratObject < 5: no Assay5 here")
  expect_error(hb_make_assay(s$m, layers = list(s$m), version = "v5"), "non-empty name")
  expect_error(hb_make_assay(s$m, layers = stats::setNames(list(s$m), NA_character_), version = "v5"), "non-empty name")
})

test_that("v5 needs SeuratObject 5; split v5 layers are joined on a copy or refused", {
  skip_if_no_seurat_object()
  s <- small_parts()
  if (!hb_seurat_object_v5()) {
    expect_identical(hb_default_assay_version(), "v4")
    expect_error(hb_make_assay(s$m, version = "v5"), "needs SeuratObject >= 5.0.0")
    skip("SeuratObject < 5: no Assay5 here")
  }
  obj <- hb_to_seurat("RNA", s$m, counts = s$m, obs = hb_data_frame(list(b = factor(rep(c("x", "y"), 3))), s$cells),
                      version = "v5")
  expect_s4_class(obj[["RNA"]], "Assay5")
  obj[["RNA"]] <- split(obj[["RNA"]], f = obj$b)
  expect_error(hb_from_seurat(obj, join = FALSE), "split layers")
  parts <- hb_from_seurat(obj)
  expect_true(length(parts$joined) > 0)
  expect_true(any(grepl("^counts\\.", SeuratObject::Layers(obj[["RNA"]]))))  # the caller's object is unchanged
})

test_that("hb_read_rds refuses files without a Seurat object", {
  skip_if_no_seurat_object()
  path <- tempfile(fileext = ".rds")
  saveRDS(list(a = 1), path)
  expect_error(hb_read_rds(path), "not a Seurat object")
})

test_that("a layer in the assay's own order is set without SetAssayData's copy, with the same result", {
  skip_if_no_seurat_object()
  so <- function(name) getExportedValue("SeuratObject", name)
  dn <- list(paste0("g", 1:6), paste0("c", 1:9))
  counts <- Matrix::rsparsematrix(6L, 9L, 0.5, rand.x = function(n) as.numeric(sample.int(9L, n, TRUE)))
  dimnames(counts) <- dn
  data <- counts
  data@x <- log1p(data@x)
  addr <- function(v) utils::capture.output(print(.Internal(address(v))))
  a <- so("CreateAssayObject")(data = data)
  ours <- .hb_set_layer(a, "counts", counts)
  theirs <- if (hb_seurat_object_v5()) so("LayerData<-")(a, layer = "counts", value = counts) else
    so("SetAssayData")(a, slot = "counts", new.data = counts)
  expect_identical(ours, theirs)
  expect_identical(addr(.hb_get_layer(ours, "counts")@i), addr(counts@i))  # not copied
  # another order: SetAssayData's own path puts it in the assay's order
  shuffled <- counts[c(2, 1, 3:6), ]
  expect_identical(.hb_set_layer(a, "counts", shuffled), .hb_set_layer(a, "counts", counts))
})

test_that("a 1 cell x 1 feature layer holding NaN is a layer, not the empty placeholder", {
  skip_if_not_installed("SeuratObject")
  expect_true(.hb_matrix_empty(matrix()))
  expect_true(.hb_matrix_empty(new("matrix")))
  m <- matrix(NaN, 1, 1, dimnames = list("g1", "c1"))
  expect_false(.hb_matrix_empty(m))
  expect_false(.hb_matrix_empty(matrix(NA_real_, 1, 1)))
  a <- SeuratObject::CreateAssayObject(data = m)
  expect_true("data" %in% .hb_layers(a))
})
