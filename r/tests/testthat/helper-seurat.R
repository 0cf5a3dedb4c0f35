# A small Seurat object made with Seurat's own functions: Poisson counts of three cell types
# in two batches (a gene-wise batch factor), then NormalizeData -> FindVariableFeatures ->
# ScaleData -> RunPCA. `assay_version` "v5" (SeuratObject 5) or "v4".
make_seurat <- function(n = 360L, g = 300L, npcs = 10L, seed = 7L, assay_version = NULL) {
  skip_if_not_installed("Seurat")
  skip_if_not_installed("SeuratObject")
  old <- if (exists(".Random.seed", globalenv())) get(".Random.seed", globalenv()) else NULL
  on.exit(if (!is.null(old)) assign(".Random.seed", old, globalenv()), add = TRUE)
  set.seed(seed)
  type <- sample(c("T", "B", "NK"), n, TRUE)
  batch <- rep(c("b1", "b2"), length.out = n)
  mu <- matrix(stats::rgamma(g * 3, 2, 1), g, 3, dimnames = list(NULL, c("T", "B", "NK")))
  bf <- matrix(exp(stats::rnorm(g * 2, 0, 0.5)), g, 2, dimnames = list(NULL, c("b1", "b2")))
  counts <- matrix(stats::rpois(g * n, mu[, type] * bf[, batch] * 2), g, n,
                   dimnames = list(paste0("gene", seq_len(g)), paste0("cell_", seq_len(n))))
  counts <- methods::as(methods::as(methods::as(counts, "CsparseMatrix"), "generalMatrix"), "dMatrix")
  op <- options(Seurat.object.assay.version = assay_version %||% if (hb_seurat_object_v5()) "v5" else "v4")
  on.exit(options(op), add = TRUE)
  obj <- Seurat::CreateSeuratObject(counts, meta.data = data.frame(batch = batch, type = type, row.names = colnames(counts)))
  obj <- Seurat::NormalizeData(obj, verbose = FALSE)
  obj <- Seurat::FindVariableFeatures(obj, nfeatures = 200L, verbose = FALSE)
  obj <- Seurat::ScaleData(obj, verbose = FALSE)
  Seurat::RunPCA(obj, npcs = npcs, verbose = FALSE, seed.use = 42L)
}
