# The same model fits in R, timed on the CSVs written by the export_r stage.
# Rscript r_fits.R WORK_DIR  -> prints CSV lines: stage,wall_seconds
suppressPackageStartupMessages({library(survival); library(geepack)})
work <- commandArgs(trailingOnly = TRUE)[1]
rd <- function(f) { d <- read.csv(file.path(work, f), stringsAsFactors = TRUE)
  if ("treatment_arm" %in% names(d)) d$treatment_arm <- relevel(d$treatment_arm, "none"); d }
first <- rd("first.csv"); all <- rd("all.csv"); ttlb <- rd("ttlb.csv")
f <- live_birth ~ treatment_arm + age_at_biopsy_years + bmi_kg_m2 + prior_failed_transfers + embryo_stage +
  good_quality_embryos + cycle_type + oocyte_source + center_id
t <- function(expr) unname(system.time(expr)["elapsed"])
cat(sprintf("R:fit_logit,%.3f\n", t(glm(f, family = binomial, data = first))))
cat(sprintf("R:fit_gee,%.3f\n", t(geeglm(f, family = binomial, id = patient_id, data = all, corstr = "exchangeable"))))
cat(sprintf("R:fit_cox,%.3f\n", t(coxph(Surv(time_days, event) ~ treatment_arm + age_at_biopsy_years + bmi_kg_m2 +
  prior_failed_transfers + center_id, data = ttlb, ties = "efron"))))
