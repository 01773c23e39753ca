# Reference values for analysis.methods.discrimination and analysis.methods.prognostic.
# Run from this folder: Rscript make_biomarker_reference.R
# Input: biomarker_data.csv (untreated first transfers of a 1,500-patient synthetic cohort, seed 515;
# uNK CD56 rounded to 0.1 so that scores tie). Output: biomarker_reference.csv (quantity, marker, value).
suppressPackageStartupMessages({library(pROC); library(Hmisc)})
d <- read.csv("biomarker_data.csv")
out <- data.frame(quantity = character(), marker = character(), value = numeric())
add <- function(q, m, v) out[nrow(out) + seq_along(v), ] <<- data.frame(q, m, v)
for (m in c("il15_fn14_ratio", "unk_cd56_percent", "blood_nk_percent")) {
  r <- roc(d$live_birth, d[[m]], levels = c(0, 1), direction = "<", quiet = TRUE)
  add("auc", m, as.numeric(auc(r)))
  add("var_delong", m, var(r, method = "delong"))
  ci <- ci.auc(r, method = "delong"); add("ci_low", m, ci[1]); add("ci_high", m, ci[3])
  b <- coords(r, "best", best.method = "youden", ret = c("threshold", "sensitivity", "specificity"), transpose = FALSE)
  add("youden_threshold", m, b$threshold[1]); add("youden_sensitivity", m, b$sensitivity[1])
  add("youden_specificity", m, b$specificity[1])
  k <- rcspline.eval(d[[m]], nk = 4, knots.only = TRUE); add("rcs_knot", m, k)
  basis <- rcspline.eval(d[[m]], knots = k, inclx = TRUE)
  add("rcs_basis_col2_sum", m, sum(basis[, 2])); add("rcs_basis_col3_first", m, basis[1, 3])
}
r1 <- roc(d$live_birth, d$il15_fn14_ratio, levels = c(0, 1), direction = "<", quiet = TRUE)
r2 <- roc(d$live_birth, d$blood_nk_percent, levels = c(0, 1), direction = "<", quiet = TRUE)
t <- roc.test(r1, r2, method = "delong", paired = TRUE)
add("delong_z", "il15_vs_blood_nk", t$statistic); add("delong_p", "il15_vs_blood_nk", t$p.value)
write.csv(out, "biomarker_reference.csv", row.names = FALSE)
writeLines(c(R.version.string, paste("pROC", packageVersion("pROC")), paste("Hmisc", packageVersion("Hmisc"))),
           "R_VERSIONS_biomarker.txt")
