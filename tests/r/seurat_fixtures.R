# Small R helpers for the tests (sourced through rpy2): Seurat objects built the way R users build them.

# A Seurat object holding a given PCA (dims x cells, as NumPy hands it over) and a batch column.
pcs_seurat <- function(pcs_t, cells, batch_name, batch) {
  pcs <- t(pcs_t)
  rownames(pcs) <- cells
  colnames(pcs) <- paste0("PC_", seq_len(ncol(pcs)))
  counts <- Matrix::sparseMatrix(
    i = integer(0), j = integer(0), x = numeric(0), dims = c(3L, length(cells)),
    dimnames = list(c("g1", "g2", "g3"), cells)
  )
  meta <- data.frame(batch, row.names = cells)
  names(meta) <- batch_name
  obj <- SeuratObject::CreateSeuratObject(counts = counts, meta.data = meta)
  obj[["pca"]] <- SeuratObject::CreateDimReducObject(embeddings = pcs, key = "PC_", assay = "RNA")
  obj
}

# RunHarmony on a Seurat object, as an R user calls it, with explicit parameters and a seed.
direct_runharmony <- function(obj, vars, seed, theta, nclust, ncores, project.dim = FALSE) {
  set.seed(seed)
  harmony::RunHarmony(obj, vars, theta = theta, nclust = nclust, ncores = ncores,
                      project.dim = project.dim, verbose = FALSE)
}
