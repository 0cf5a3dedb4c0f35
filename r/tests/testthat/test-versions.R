test_that("hb_versions reports R and marks absent packages NA", {
  v <- hb_versions(c("stats", "surely.not.a.package"))
  expect_equal(unname(v[["R"]]), as.character(getRversion()))
  expect_equal(unname(v[["stats"]]), as.character(utils::packageVersion("stats")))
  expect_true(is.na(v[["surely.not.a.package"]]))
})
