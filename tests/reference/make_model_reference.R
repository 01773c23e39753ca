# Reference values from R for tests/test_models_against_r.py.
#
# Run from this folder:   Rscript make_model_reference.R
# Needs R >= 4.2 with survival and geepack. It reads the shared data sets copied into
# shared/ (infert.csv, lung.csv; see README.md) and writes, next to this script:
#
#   implantation.csv               simulated grouped-binomial IVF data (sacs out of embryos)
#   lung_competing.csv             lung with a made-up competing event (see below)
#   model_reference_coefficients.csv   dataset, model_id, term, coef, std_error
#   model_reference_tests.csv          dataset, model_id, term, statistic, df, p_value
#   model_reference_km_lung_by_sex.csv Kaplan-Meier by sex at every observed time
#   model_reference_aalen_johansen.csv Aalen-Johansen state probabilities at every time
#   R_VERSIONS_models.txt
#
# Every value is computed by R's own implementation; the Python tests only read the CSVs.
suppressPackageStartupMessages({library(survival); library(geepack)})
options(digits = 15)

tidy_rows <- function(dataset, model_id, fit_coef, se) {
  data.frame(dataset = dataset, model_id = model_id, term = names(fit_coef),
             coef = unname(fit_coef), std_error = unname(se), row.names = NULL)
}
test_rows <- function(dataset, model_id, term, statistic, df, p_value) {
  data.frame(dataset = dataset, model_id = model_id, term = term,
             statistic = unname(statistic), df = unname(df), p_value = unname(p_value),
             row.names = NULL)
}

infert <- read.csv("shared/infert.csv")
infert$education <- factor(infert$education, levels = c("0-5yrs", "6-11yrs", "12+ yrs"))
lung <- read.csv("shared/lung.csv")

coefs <- list()
tests <- list()

# --- 1. Grouped binomial GEE: implantation (sacs out of embryos transferred) -------------
# Simulated once with a fixed seed: 160 patients with 1-4 transfers each, 1-3 embryos per
# transfer, a patient-level random effect (so outcomes correlate within patient), maternal
# age and a three-level arm. Rows are sorted by patient, as geepack requires.
set.seed(20261124)
n_pat <- 160
n_tr <- sample(1:4, n_pat, replace = TRUE, prob = c(0.35, 0.3, 0.2, 0.15))
patient_id <- rep(seq_len(n_pat), n_tr)
u <- rnorm(n_pat, 0, 0.8)[patient_id]
age <- round(rnorm(n_pat, 35, 4)[patient_id] + sequence(n_tr) * 0.5, 1)
arm <- sample(c("none", "empirical", "personalized"), length(patient_id), replace = TRUE)
embryos <- sample(1:3, length(patient_id), replace = TRUE, prob = c(0.5, 0.4, 0.1))
lp <- -0.6 - 0.08 * (age - 35) + 0.3 * (arm == "empirical") + 0.5 * (arm == "personalized") + u
sacs <- rbinom(length(patient_id), embryos, plogis(lp))
implantation <- data.frame(patient_id = patient_id, transfer = sequence(n_tr), age = age,
                           arm = arm, embryos = embryos, sacs = sacs)
write.csv(implantation, "implantation.csv", row.names = FALSE)
implantation$arm <- factor(implantation$arm, levels = c("none", "empirical", "personalized"))

g1 <- geeglm(cbind(sacs, embryos - sacs) ~ age + arm, id = patient_id, data = implantation,
             family = binomial(), corstr = "exchangeable")
coefs[[length(coefs) + 1]] <- tidy_rows("implantation", "gee_trials_exchangeable",
                                        coef(g1), sqrt(diag(vcov(g1))))
coefs[[length(coefs) + 1]] <- data.frame(
  dataset = "implantation", model_id = "gee_trials_exchangeable",
  term = c("working_correlation_alpha", "scale_phi"),
  coef = c(unname(unlist(g1$geese$alpha)), unname(g1$geese$gamma)),
  std_error = NA_real_)
g2 <- geeglm(cbind(sacs, embryos - sacs) ~ age + arm, id = patient_id, data = implantation,
             family = binomial(), corstr = "independence")
coefs[[length(coefs) + 1]] <- tidy_rows("implantation", "gee_trials_independence",
                                        coef(g2), sqrt(diag(vcov(g2))))

ohio <- read.csv("shared/ohio.csv")
g3 <- geeglm(resp ~ age + smoke, id = id, data = ohio, family = binomial(),
             corstr = "exchangeable")
coefs[[length(coefs) + 1]] <- data.frame(dataset = "ohio", model_id = "gee_logit_exchangeable_by_child",
                                         term = "scale_phi", coef = unname(g3$geese$gamma),
                                         std_error = NA_real_)

# --- 2. Logistic with interaction and a linear combination of coefficients ---------------
infert$spont_any <- factor(ifelse(infert$spontaneous > 0, "yes", "no"))
infert$induced_any <- factor(ifelse(infert$induced > 0, "yes", "no"))
m_int <- glm(case ~ spont_any * induced_any + age, data = infert, family = binomial())
coefs[[length(coefs) + 1]] <- tidy_rows("infert", "glm_logit_interaction", coef(m_int),
                                        sqrt(diag(vcov(m_int))))
L <- setNames(rep(0, length(coef(m_int))), names(coef(m_int)))
L[c("spont_anyyes", "spont_anyyes:induced_anyyes")] <- 1
lc <- sum(L * coef(m_int))
lc_se <- sqrt(drop(t(L) %*% vcov(m_int) %*% L))
coefs[[length(coefs) + 1]] <- data.frame(
  dataset = "infert", model_id = "glm_logit_interaction",
  term = "lincom:spont_anyyes+spont_anyyes:induced_anyyes", coef = lc, std_error = lc_se)
tests[[length(tests) + 1]] <- test_rows(
  "infert", "glm_logit_interaction", "lincom:spont_anyyes+spont_anyyes:induced_anyyes",
  (lc / lc_se)^2, 1, 2 * pnorm(-abs(lc / lc_se)))

m_w <- glm(case ~ spontaneous + induced, data = infert, family = binomial(), weights = parity)
coefs[[length(coefs) + 1]] <- tidy_rows("infert", "glm_logit_weighted_by_parity", coef(m_w),
                                        sqrt(diag(vcov(m_w))))

# --- 3. Likelihood-ratio tests: anova(m0, m1, test = "LRT") -----------------------------
m_crude <- glm(case ~ spontaneous + induced, data = infert, family = binomial())
m_adj <- glm(case ~ age + parity + education + spontaneous + induced, data = infert,
             family = binomial())
a1 <- anova(m_crude, m_adj, test = "LRT")
tests[[length(tests) + 1]] <- test_rows("infert", "lrt_adjusted_vs_crude", "LRT",
                                        a1$Deviance[2], a1$Df[2], a1[["Pr(>Chi)"]][2])
m_main <- glm(case ~ spont_any + induced_any + age, data = infert, family = binomial())
a2 <- anova(m_main, m_int, test = "LRT")
tests[[length(tests) + 1]] <- test_rows("infert", "lrt_interaction_vs_main", "LRT",
                                        a2$Deviance[2], a2$Df[2], a2[["Pr(>Chi)"]][2])

# --- 4. Cox model and proportional-hazards test (cox.zph, survival 3.x score test) -------
lung_cc <- na.omit(lung[, c("time", "status", "age", "sex", "ph.ecog")])
m5 <- coxph(Surv(time, status == 2) ~ age + sex + ph.ecog, data = lung_cc, ties = "efron")
for (tf in c("km", "identity", "rank", "log")) {
  z <- cox.zph(m5, transform = tf)
  tests[[length(tests) + 1]] <- test_rows("lung", paste0("coxzph_", tf), rownames(z$table),
                                          z$table[, "chisq"], z$table[, "df"], z$table[, "p"])
}
m6 <- coxph(Surv(time, status == 2) ~ age + ph.ecog + strata(sex), data = lung_cc,
            ties = "efron")
coefs[[length(coefs) + 1]] <- tidy_rows("lung", "coxph_efron_strata_sex", coef(m6),
                                        sqrt(diag(vcov(m6))))
lung_f <- lung_cc[lung_cc$ph.ecog < 3, ]
lung_f$ecog <- factor(lung_f$ph.ecog)
m7 <- coxph(Surv(time, status == 2) ~ age + sex + ecog, data = lung_f, ties = "efron")
coefs[[length(coefs) + 1]] <- tidy_rows("lung", "coxph_efron_factor_ecog", coef(m7),
                                        sqrt(diag(vcov(m7))))
z7 <- cox.zph(m7)  # terms = TRUE: one 2-df test for the factor
tests[[length(tests) + 1]] <- test_rows("lung", "coxzph_km_factor_ecog", rownames(z7$table),
                                        z7$table[, "chisq"], z7$table[, "df"], z7$table[, "p"])
z6 <- cox.zph(m6, transform = "km")
tests[[length(tests) + 1]] <- test_rows("lung", "coxzph_km_strata_sex", rownames(z6$table),
                                        z6$table[, "chisq"], z6$table[, "df"], z6$table[, "p"])

# --- 5. Log-rank with three groups ------------------------------------------------------
lung_e <- lung[!is.na(lung$ph.ecog) & lung$ph.ecog < 3, ]
lr3 <- survdiff(Surv(time, status == 2) ~ ph.ecog, data = lung_e)
tests[[length(tests) + 1]] <- test_rows("lung", "logrank_by_ph_ecog_0_2", "logrank",
                                        lr3$chisq, length(lr3$n) - 1,
                                        pchisq(lr3$chisq, length(lr3$n) - 1, lower.tail = FALSE))

# --- 6. Kaplan-Meier by sex at every observed time --------------------------------------
km <- survfit(Surv(time, status == 2) ~ sex, data = lung, conf.type = "log")
sk <- summary(km, censored = TRUE)
write.csv(data.frame(dataset = "lung", group = sub("sex=", "", as.character(sk$strata)),
                     time = sk$time, n_risk = sk$n.risk, n_event = sk$n.event,
                     n_censor = sk$n.censor, survival = sk$surv, std_error = sk$std.err,
                     conf_low = sk$lower, conf_high = sk$upper),
          "model_reference_km_lung_by_sex.csv", row.names = FALSE)

# --- 7. Aalen-Johansen with a competing event --------------------------------------------
# Made-up competing causes on lung: a death before age 65 is the event of interest (1), a
# death at 65 or later the competing event (2), status 1 censored (0).
lung_cr <- data.frame(time = lung$time, sex = lung$sex,
                      event = ifelse(lung$status == 1, 0L, ifelse(lung$age < 65, 1L, 2L)))
write.csv(lung_cr, "lung_competing.csv", row.names = FALSE)
aj_rows <- function(fit, group) {
  s <- summary(fit, censored = TRUE)
  grp <- if (is.null(s$strata)) rep(group, length(s$time)) else
    sub("sex=", "", as.character(s$strata))
  states <- fit$states  # "(s0)" (event-free), "1", "2": the columns of pstate and n.event
  out <- list()
  for (k in c("1", "2")) {
    j <- match(k, states)
    out[[k]] <- data.frame(dataset = "lung_competing", group = grp, state = k, time = s$time,
                           n_risk = s$n.risk[, 1], n_event = s$n.event[, j],
                           n_censor = s$n.censor, estimate = s$pstate[, j],
                           std_error = s$std.err[, j], conf_low = s$lower[, j],
                           conf_high = s$upper[, j])
  }
  do.call(rbind, out)
}
aj_all <- survfit(Surv(time, factor(event)) ~ 1, data = lung_cr)
aj_sex <- survfit(Surv(time, factor(event)) ~ sex, data = lung_cr)
write.csv(rbind(aj_rows(aj_all, "all"), aj_rows(aj_sex, NA)),
          "model_reference_aalen_johansen.csv", row.names = FALSE)

write.csv(do.call(rbind, coefs), "model_reference_coefficients.csv", row.names = FALSE)
write.csv(do.call(rbind, tests), "model_reference_tests.csv", row.names = FALSE)
cat(R.version.string, "\n", "survival", as.character(packageVersion("survival")),
    "\n", "geepack", as.character(packageVersion("geepack")), "\n",
    file = "R_VERSIONS_models.txt")
