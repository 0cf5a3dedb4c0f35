#' Seurat's clustering on an embedding: FindNeighbors, FindClusters and RunUMAP.
#'
#' The same calls Seurat makes for `FindNeighbors(obj, reduction = ...)`,
#' `FindClusters(obj)` and `RunUMAP(obj, reduction = ...)`: their default methods on the
#' reduction's cells x dims matrix. `embedding` arrives as dims x cells (NumPy's layout),
#' `cells` names the cells. Returns clusters (a factor), the SNN graph's dgCMatrix parts and
#' the UMAP coordinates (cells x 2, or NULL).
#' @noRd
hb_seurat_cluster <- function(embedding, cells, k.param = 20, resolution = 0.8, algorithm = 1,
                              seed = 0, umap = TRUE, verbose = FALSE) {
  hb_require("Seurat", "hb_seurat_cluster()")
  emb <- t(embedding)
  rownames(emb) <- cells
  colnames(emb) <- paste0("dim_", seq_len(ncol(emb)))
  set.seed(seed)
  graphs <- Seurat::FindNeighbors(emb, k.param = k.param, verbose = verbose)
  snn <- graphs[["snn"]]
  clusters <- Seurat::FindClusters(snn, resolution = resolution, algorithm = algorithm,
                                   random.seed = seed, verbose = verbose)[[1]]
  coords <- NULL
  if (umap) {
    red <- Seurat::RunUMAP(emb, seed.use = seed, verbose = verbose)
    coords <- Seurat::Embeddings(red)
  }
  g <- methods::as(snn, "dgCMatrix")
  list(
    clusters = clusters, snn_i = g@i, snn_p = g@p, snn_x = g@x, umap = coords,
    versions = hb_versions(c("Seurat", "SeuratObject"))
  )
}
