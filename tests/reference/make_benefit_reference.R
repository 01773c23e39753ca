# Reference values for the decision curve of a treatment rule from observed outcomes
# (analysis.methods.benefit.aipw_scores, net_benefit) and Holm's adjustment
# (analysis.methods.multiplicity). Run from this folder: Rscript make_benefit_reference.R
# Input: causal_data.csv (first transfers of a 700-patient synthetic cohort, seed 4242, complete cases).
# Output: benefit_reference.csv (quantity, rule, threshold, value).
# The net benefit is derived by hand (dcurves is not installed, and its treatment curves come
# from predictions, not outcomes): with AIPW scores
#   psi_a = mu_a(X) + 1{A = a} (Y - mu_a(X)) / e_a(X)
# (e_a from nnet::multinom of the arm on the propensity covariates, mu_a from glm of live birth
# on arm * profile_group + the other covariates), a rule r has
#   NB(r, t) = mean(r * psi_personalized + (1 - r) * psi_none) - mean(psi_none) - t * mean(r),
# written here in that form (risk under the rule minus risk under treat none minus t x share treated).
# With augmented = FALSE, mu_a = 0 (inverse probability weighting).
suppressPackageStartupMessages(library(nnet))
d <- read.csv("causal_data.csv", stringsAsFactors = FALSE)
d$treatment_arm <- factor(d$treatment_arm, levels = c("none", "empirical", "personalized"))
d$center_id <- factor(d$center_id)
d$profile_group <- factor(d$profile_group, levels = c("balanced", "dysregulated"))
m <- multinom(treatment_arm ~ age_at_biopsy_years + bmi_kg_m2 + prior_failed_transfers + center_id + profile_group,
              data = d, trace = FALSE, reltol = 1e-14, maxit = 1000)
P <- fitted(m)
o <- glm(live_birth ~ treatment_arm * profile_group + age_at_biopsy_years + bmi_kg_m2 + prior_failed_transfers +
           center_id, family = binomial, data = d, control = glm.control(epsilon = 1e-14, maxit = 100))
mu <- function(arm) predict(o, newdata = transform(d, treatment_arm = factor(arm, levels(d$treatment_arm))),
                            type = "response")
y <- d$live_birth
scores <- function(augmented) {
  m1 <- if (augmented) mu("personalized") else 0
  m0 <- if (augmented) mu("none") else 0
  list(p1 = m1 + (d$treatment_arm == "personalized") * (y - m1) / P[, "personalized"],
       p0 = m0 + (d$treatment_arm == "none") * (y - m0) / P[, "none"])
}
rules <- list(treat_all = rep(1, nrow(d)),
              treat_dysregulated = as.numeric(d$profile_group == "dysregulated"),
              treat_age_under_37 = as.numeric(d$age_at_biopsy_years < 37),
              treat_none = rep(0, nrow(d)))
out <- data.frame(quantity = character(), rule = character(), threshold = numeric(), value = numeric())
for (augmented in c(TRUE, FALSE)) {
  s <- scores(augmented)
  q <- if (augmented) "net_benefit_aipw" else "net_benefit_ipw"
  for (name in names(rules)) for (t in c(0, 0.05, 0.1, 0.2)) {
    r <- rules[[name]]
    nb <- mean(r * s$p1 + (1 - r) * s$p0) - mean(s$p0) - t * mean(r)
    out[nrow(out) + 1, ] <- list(q, name, t, nb)
  }
  out[nrow(out) + 1, ] <- list(if (augmented) "risk_personalized_aipw" else "risk_personalized_ipw", "", NA, mean(s$p1))
  out[nrow(out) + 1, ] <- list(if (augmented) "risk_none_aipw" else "risk_none_ipw", "", NA, mean(s$p0))
}
p <- c(0.01, 0.04, 0.03, 0.2, 0.001, 0.5)
h <- p.adjust(p, "holm")
for (i in seq_along(p)) out[nrow(out) + 1, ] <- list("holm", sprintf("p%d=%g", i, p[i]), NA, h[i])
write.csv(out, "benefit_reference.csv", row.names = FALSE)
writeLines(c(R.version.string, paste("nnet", packageVersion("nnet"))), "R_VERSIONS_benefit.txt")
