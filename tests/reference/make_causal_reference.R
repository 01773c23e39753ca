# Reference values for propensity scores, IPTW, AIPW, matching and balance (analysis.methods.propensity,
# analysis.methods.effects). Run from this folder: Rscript make_causal_reference.R
# Input: causal_data.csv (first transfers of a 700-patient synthetic cohort, seed 4242, complete cases).
# Output: causal_reference_values.csv (quantity, arm, term, value), causal_reference_scores.csv
# (per-patient multinomial and pairwise scores and weights), causal_reference_pairs.csv (MatchIt pairs).
suppressPackageStartupMessages({library(nnet); library(survey); library(MatchIt); library(sandwich)})
d <- read.csv("causal_data.csv", stringsAsFactors = FALSE)
d$treatment_arm <- factor(d$treatment_arm, levels = c("none", "empirical", "personalized"))
d$center_id <- factor(d$center_id)
d$profile_group <- factor(d$profile_group, levels = c("balanced", "dysregulated"))
ps_f <- ~ age_at_biopsy_years + bmi_kg_m2 + prior_failed_transfers + center_id + profile_group
out <- data.frame(quantity = character(), arm = character(), term = character(), value = numeric())
add <- function(q, a, t, v) out[nrow(out) + seq_along(v), ] <<- data.frame(q, a, t, v)

# multinomial propensity score, stabilised ATE weights
m <- multinom(update(ps_f, treatment_arm ~ .), data = d, trace = FALSE, reltol = 1e-14, maxit = 1000)
P <- fitted(m)
e_rec <- P[cbind(seq_len(nrow(d)), as.integer(d$treatment_arm))]
share <- as.numeric(table(d$treatment_arm)[as.integer(d$treatment_arm)]) / nrow(d)
d$w_ate <- share / e_rec
d$w_att <- P[, "personalized"] / e_rec
d$w_att[d$treatment_arm == "personalized"] <- 1
# pairwise score personalized vs none
dp <- droplevels(subset(d, treatment_arm %in% c("none", "personalized")))
dp$treated <- as.integer(dp$treatment_arm == "personalized")
g <- glm(update(ps_f, treated ~ .), family = binomial, data = dp, control = glm.control(epsilon = 1e-14, maxit = 100))
d$ps_pair <- NA
d$ps_pair[match(dp$patient_id, d$patient_id)] <- fitted(g)
write.csv(data.frame(patient_id = d$patient_id, ps_none = P[, "none"], ps_empirical = P[, "empirical"],
                     ps_personalized = P[, "personalized"], w_ate = d$w_ate, w_att = d$w_att,
                     ps_pair = d$ps_pair), "causal_reference_scores.csv", row.names = FALSE)

# weighted outcome model, design-based SE (svyglm), ATE and ATT
for (est in c("ate", "att")) {
  des <- svydesign(ids = ~1, weights = as.formula(paste0("~w_", est)), data = d)
  f <- svyglm(live_birth ~ treatment_arm, design = des, family = quasibinomial())
  add(paste0("iptw_logit_coef_", est), "", names(coef(f))[-1], coef(f)[-1])
  add(paste0("iptw_logit_se_", est), "", names(coef(f))[-1], SE(f)[-1])
  r <- svyby(~live_birth, ~treatment_arm, des, svymean, covmat = TRUE)
  add(paste0("risk_", est), as.character(r$treatment_arm), "", coef(r))
  add(paste0("risk_se_", est), as.character(r$treatment_arm), "", SE(r))
  for (a in c("empirical", "personalized")) {
    rd <- svycontrast(r, setNames(c(-1, 1), c("none", a)))
    add(paste0("rd_", est), a, "", coef(rd)); add(paste0("rd_se_", est), a, "", SE(rd))
    lrr <- svycontrast(r, substitute(log(A) - log(none), list(A = as.name(a))))
    add(paste0("log_rr_", est), a, "", coef(lrr)); add(paste0("log_rr_se_", est), a, "", SE(lrr))
  }
}

# AIPW risks: multinomial PS as above, outcome model arm * profile group + covariates
om <- glm(live_birth ~ treatment_arm * profile_group + age_at_biopsy_years + bmi_kg_m2 + prior_failed_transfers + center_id,
          family = binomial, data = d, control = glm.control(epsilon = 1e-14, maxit = 100))
for (a in levels(d$treatment_arm)) {
  da <- d; da$treatment_arm <- factor(a, levels = levels(d$treatment_arm))
  mhat <- predict(om, newdata = da, type = "response")
  aug <- mhat + (d$treatment_arm == a) * (d$live_birth - mhat) / P[, a]
  add("aipw_risk_all", a, "", mean(aug))
  for (gl in levels(d$profile_group)) add(paste0("aipw_risk_", gl), a, "", mean(aug[d$profile_group == gl]))
}

# 1:1 nearest neighbour on the logit of the pairwise score, caliper 0.2 SD, largest first
mm <- matchit(update(ps_f, treated ~ .), data = dp, method = "nearest", distance = "glm", link = "linear.logit",
              caliper = 0.2, std.caliper = TRUE, m.order = "largest", replace = FALSE)
md <- match.data(mm)
pairs <- data.frame(treated = rownames(mm$match.matrix), control = mm$match.matrix[, 1])
pairs <- pairs[!is.na(pairs$control), ]
write.csv(data.frame(treated_id = dp[pairs$treated, "patient_id"],
                     control_id = dp[pairs$control, "patient_id"]),
          "causal_reference_pairs.csv", row.names = FALSE)
fm <- glm(live_birth ~ treatment_arm, family = binomial, data = md, control = glm.control(epsilon = 1e-14))
add("matched_coef", "", "personalized", coef(fm)[2])
add("matched_se", "", "personalized", sqrt(diag(vcovCL(fm, cluster = ~subclass)))[2])

# balance: standardized mean differences (continuous: pooled-variance denominator; weighted
# variance with the reliability-weight correction), personalized vs none, before and after ATE weights
wvar <- function(x, w) { m <- sum(w * x) / sum(w); sum(w) / (sum(w)^2 - sum(w^2)) * sum(w * (x - m)^2) }
for (v in c("age_at_biopsy_years", "bmi_kg_m2", "prior_failed_transfers")) {
  t1 <- d$treatment_arm == "personalized"; t0 <- d$treatment_arm == "none"
  for (wt in c("none", "ate")) {
    w <- if (wt == "none") rep(1, nrow(d)) else d$w_ate
    m1 <- sum(w[t1] * d[[v]][t1]) / sum(w[t1]); m0 <- sum(w[t0] * d[[v]][t0]) / sum(w[t0])
    add(paste0("smd_", wt), "personalized", v, (m1 - m0) / sqrt((wvar(d[[v]][t1], w[t1]) + wvar(d[[v]][t0], w[t0])) / 2))
  }
}
write.csv(out, "causal_reference_values.csv", row.names = FALSE)
writeLines(c(R.version.string, paste("nnet", packageVersion("nnet")), paste("survey", packageVersion("survey")),
             paste("MatchIt", packageVersion("MatchIt")), paste("sandwich", packageVersion("sandwich"))),
           "R_VERSIONS_causal.txt")
