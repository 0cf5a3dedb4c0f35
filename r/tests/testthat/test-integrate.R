# The seurat engine: IntegrateLayers(method = HarmonyIntegration) on a Seurat 5 object of the same cells.

skip_unless_seurat5 <- function() {
  skip_if_not_installed("Seurat")
  skip_if_not_installed("harmony")
  if (utils::packageVersion("Seurat") < "5.0.0") skip("cannot apply: IntegrateLayers needs Seurat 5")
}

test_that("hb_harmony_calls finds harmony::name calls in a function body", {
  f <- function(x) {
    y <- harmony::RunHarmony(x)
    stats::sd(harmony::harmony_options()$alpha)
  }
  expect_setequal(hb_harmony_calls(f), c("RunHarmony", "harmony_options"))
  expect_identical(hb_harmony_calls(function(x) stats::sd(x)), character(0))
})

test_that("on Seurat 4 the path says plainly that it needs Seurat 5", {
  skip_if_not_installed("Seurat")
  if (utils::packageVersion("Seurat") >= "5.0.0") skip("cannot apply: this is a Seurat 5 stack")
  st <- hb_seurat_harmony_path()
  expect_false(st$ok)
  expect_match(st$reason, "needs Seurat 5; this R has Seurat 4", fixed = TRUE)
  expect_error(hb_seurat_integrate(matrix(0, 2, 10), factor(rep(c("a", "b"), 5))), "needs Seurat 5")
})

test_that("the path's verdict is what IntegrateLayers(method = HarmonyIntegration) really does", {
  skip_unless_seurat5()
  st <- hb_seurat_harmony_path()
  expect_equal(st$defaults$max_iter_kmeans, eval(formals(Seurat::HarmonyIntegration)$max.iter.cluster))
  expect_equal(st$fixed$batch_prop_cutoff, eval(formals(harmony::harmony_options)$batch.prop.cutoff))
  # a user's Seurat 5 workflow on a small object, with Seurat's own HarmonyIntegration
  set.seed(1)
  m <- Matrix::rsparsematrix(200, 300, 0.2, rand.x = function(n) rpois(n, 3) + 1)
  dimnames(m) <- list(paste0("g", 1:200), paste0("c", 1:300))
  obj <- SeuratObject::CreateSeuratObject(m)
  obj[["RNA"]] <- split(obj[["RNA"]], f = rep(c("a", "b", "c"), 100))
  obj <- suppressWarnings(Seurat::NormalizeData(obj, verbose = FALSE))
  obj <- suppressWarnings(Seurat::FindVariableFeatures(obj, verbose = FALSE))
  obj <- Seurat::ScaleData(obj, verbose = FALSE)
  obj <- suppressWarnings(Seurat::RunPCA(obj, npcs = 10, verbose = FALSE))
  res <- tryCatch(
    Seurat::IntegrateLayers(obj, method = Seurat::HarmonyIntegration, orig.reduction = "pca",
                            new.reduction = "harmony", verbose = FALSE),
    error = function(e) e
  )
  if (st$ok) {
    expect_s4_class(res, "Seurat")
  } else {
    expect_s3_class(res, "error")
    missing <- setdiff(hb_harmony_calls(Seurat::HarmonyIntegration), getNamespaceExports("harmony"))
    expect_true(length(missing) > 0)
    expect_match(conditionMessage(res), sprintf("'%s' is not an exported object", missing[[1]]), fixed = TRUE)
    expect_match(st$reason, sprintf("calls harmony::%s", missing[[1]]), fixed = TRUE)
  }
})

test_that("hb_seurat_integrate hands IntegrateLayers each cell's own embedding and batch, in order", {
  skip_unless_seurat5()
  set.seed(2)
  n <- 90L
  batch <- factor(sample(c("x", "y", "z"), n, replace = TRUE))
  emb <- rbind(seq_len(n), matrix(stats::rnorm(3 * n), 3, n))  # PC1 = the cell's position
  seen <- NULL
  # an integration method with HarmonyIntegration's signature that records what it was given and
  # returns, per cell, its position and its group (so order and grouping can be checked)
  method <- function(object, orig, layers = NULL, scale.layer = "scale.data", theta = NULL, max.iter.cluster = 20L, ...) {
    groups <- Seurat:::CreateIntegrationGroups(object, layers = layers, scale.layer = scale.layer)
    seen <<- list(theta = theta, max.iter.cluster = max.iter.cluster, layers = layers)
    e <- SeuratObject::Embeddings(orig)
    out <- cbind(e[, 1], as.integer(factor(groups$group)))
    dimnames(out) <- list(rownames(e), c("harmony_1", "harmony_2"))
    list(harmony = SeuratObject::CreateDimReducObject(embeddings = out, key = "harmony_", assay = "RNA"))
  }
  res <- hb_seurat_integrate(emb, batch, params = list(theta = 3, max.iter.cluster = 7L), method = method)
  expect_equal(res$embedding[1, ], seq_len(n))
  expect_equal(res$embedding[2, ], as.integer(batch))
  expect_equal(seen$theta, 3)
  expect_equal(seen$max.iter.cluster, 7L)
  expect_setequal(seen$layers, paste0("data.", levels(batch)))
  # no params: the method's own defaults apply
  hb_seurat_integrate(emb, batch, method = method)
  expect_null(seen$theta)
  expect_equal(seen$max.iter.cluster, 20L)
})
