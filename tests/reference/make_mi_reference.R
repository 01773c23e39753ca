# Reference values for Rubin's rules (analysis.methods.imputation.pool_rubin / fit_pooled_logit).
# Run from this folder: Rscript make_mi_reference.R
# Input: mi_completed.csv, five completed copies (column `imputation`) of causal_data.csv after
# 20% of BMI and 10% of centre were blanked and imputed by analysis.methods.imputation.impute_chained.
# Output: mi_reference_pool.csv, mice::pool() of glm(live_birth ~ treatment_arm + age + bmi + centre)
# over the five copies (pooled estimate, ubar, b, t, df (Barnard-Rubin), riv, lambda, fmi), and
# mice::pool.scalar on a hand-checkable set of five estimates and variances.
suppressPackageStartupMessages(library(mice))
d <- read.csv("mi_completed.csv", stringsAsFactors = FALSE)
d$treatment_arm <- factor(d$treatment_arm, levels = c("none", "empirical", "personalized"))
d$center_id <- factor(d$center_id)
fits <- lapply(split(d, d$imputation), function(x)
  glm(live_birth ~ treatment_arm + age_at_biopsy_years + bmi_kg_m2 + center_id, family = binomial, data = x,
      control = glm.control(epsilon = 1e-14, maxit = 100)))
p <- pool(as.mira(fits))$pooled
out <- data.frame(term = as.character(p$term), estimate = p$estimate, ubar = p$ubar, b = p$b, t = p$t,
                  df = p$df, riv = p$riv, lambda = p$lambda, fmi = p$fmi, dfcom = p$dfcom)
s <- pool.scalar(Q = c(1.0, 1.2, 0.8, 1.1, 0.9), U = c(0.04, 0.05, 0.045, 0.04, 0.05), n = 104, k = 4)
out <- rbind(out, data.frame(term = "pool.scalar", estimate = s$qbar, ubar = s$ubar, b = s$b, t = s$t, df = s$df,
                             riv = s$r, lambda = (1 + 1 / 5) * s$b / s$t, fmi = s$fmi, dfcom = 100))
write.csv(out, "mi_reference_pool.csv", row.names = FALSE)
writeLines(c(R.version.string, paste("mice", packageVersion("mice"))), "R_VERSIONS_mi.txt")
