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

test_that("hb_redirect_calls replaces harmony::name calls only, empty arguments and all", {
  f <- function(x) {
    y <- x[, 1]
    z <- harmony::HarmonyMatrix(data_mat = x[1, ], verbose = FALSE)
    list(harmony::HarmonyMatrix, harmony::RunHarmony, other::HarmonyMatrix)
  }
  g <- f
  body(g) <- hb_redirect_calls(body(f), "HarmonyMatrix", quote(hb_harmony_matrix))
  expect_identical(hb_harmony_calls(g), "RunHarmony")
  expect_identical(body(g)[[3]], quote(z <- hb_harmony_matrix(data_mat = x[1, ], verbose = FALSE)))
  expect_identical(body(g)[[2]], body(f)[[2]])  # x[, 1] kept, with its empty argument
  expect_identical(body(g)[[4]], quote(list(hb_harmony_matrix, harmony::RunHarmony, other::HarmonyMatrix)))
})

test_that("hb_harmony_matrix runs RunHarmony the way Seurat's fix calls it", {
  skip_if_not_installed("harmony")
  set.seed(3)
  emb <- matrix(stats::rnorm(300 * 5), 300, 5, dimnames = list(paste0("c", 1:300), paste0("PC_", 1:5)))
  groups <- data.frame(group = rep(c("a", "b", "c"), 100))
  args <- list(theta = NULL, lambda = NULL, sigma = 0.1, nclust = NULL, tau = 0, block.size = 0.05,
               max.iter.harmony = 10L, max.iter.cluster = 20L, epsilon.cluster = 1e-5, epsilon.harmony = 1e-4)
  set.seed(7)
  ours <- do.call(hb_harmony_matrix, c(list(data_mat = emb, meta_data = groups, vars_use = "group", do_pca = FALSE,
                                            npcs = 0L, return_object = FALSE, verbose = FALSE), args))
  set.seed(7)
  fix <- harmony::RunHarmony(
    data_mat = emb, meta_data = groups, vars_use = "group", theta = NULL, lambda = NULL, sigma = 0.1, nclust = NULL,
    max_iter = 10L, return_object = FALSE, verbose = FALSE,
    .options = harmony::harmony_options(tau = 0, block.size = 0.05, max.iter.cluster = 20L, epsilon.cluster = 1e-5,
                                        epsilon.harmony = 1e-4)
  )
  expect_identical(ours, fix)
  expect_error(do.call(hb_harmony_matrix, c(list(data_mat = emb, meta_data = groups, vars_use = "group",
                                                 do_pca = TRUE), args)), "only HarmonyIntegration's call")
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
  expect_true(st$ok)
  missing <- setdiff(hb_harmony_calls(Seurat::HarmonyIntegration), getNamespaceExports("harmony"))
  if (length(missing)) {
    # Seurat 5.0-5.2 with harmony 2: the installed call fails for everyone; the engine redirects it, and says so
    expect_identical(missing, "HarmonyMatrix")
    expect_s3_class(res, "error")
    expect_match(conditionMessage(res), "'HarmonyMatrix' is not an exported object", fixed = TRUE)
    expect_match(st$note, "calls harmony::HarmonyMatrix, which R harmony .* does not have")
    expect_match(st$note, "redirected to harmony::RunHarmony as Seurat's fix does", fixed = TRUE)
    method <- hb_harmony_integration()
    expect_false("HarmonyMatrix" %in% hb_harmony_calls(method))
    expect_true("hb_harmony_matrix" %in% all.names(body(method)))
    expect_identical(formals(method), formals(Seurat::HarmonyIntegration))  # Seurat's own defaults
    expect_identical(attr(method, "Seurat.method"), attr(Seurat::HarmonyIntegration, "Seurat.method"))
    set.seed(11)
    res <- Seurat::IntegrateLayers(obj, method = method, orig.reduction = "pca", new.reduction = "harmony",
                                   verbose = FALSE)
  } else {
    expect_identical(st$note, "")
    expect_identical(hb_harmony_integration(), Seurat::HarmonyIntegration)
  }
  expect_s4_class(res, "Seurat")
  h <- SeuratObject::Embeddings(res, "harmony")
  expect_identical(dim(h), c(300L, 10L))
  expect_identical(rownames(h), colnames(obj))
  # what it ran is harmony on the PCs with Seurat's defaults, grouped by the layers
  if (length(missing)) {
    f <- formals(Seurat::HarmonyIntegration)
    set.seed(11)
    direct <- harmony::RunHarmony(
      data_mat = SeuratObject::Embeddings(obj, "pca"), meta_data = data.frame(group = paste0("data.", rep(c("a", "b", "c"), 100))),
      vars_use = "group", theta = eval(f$theta), lambda = eval(f$lambda), sigma = eval(f$sigma), nclust = eval(f$nclust),
      max_iter = eval(f$max.iter.harmony), return_object = FALSE, verbose = FALSE,
      .options = harmony::harmony_options(
        tau = eval(f$tau), block.size = eval(f$block.size), max.iter.cluster = eval(f$max.iter.cluster),
        epsilon.cluster = eval(f$epsilon.cluster), epsilon.harmony = eval(f$epsilon.harmony)
      )
    )
    expect_equal(unname(h), unname(direct), tolerance = 1e-6)
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
