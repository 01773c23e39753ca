# Reference values for the influence-function (stacked estimating equation) variances of the AIPW
# and IPTW (Hajek) risks: analysis.methods.effects.aipw_rd_rows(inference = "influence") and
# iptw_risk_rows(variance = "stacked"). Run from this folder: Rscript make_influence_reference.R
# Input: influence_data.csv (every transfer up to the first live birth of 225 synthetic women,
# make_influence_data.py), clusters = patient_id.
# Output: influence_reference.csv (quantity, stratum, arm, value).
#
# Everything is computed by hand from the stacked estimating equations (Stefanski & Boos 2002,
# Am Stat 56:29): theta = (gamma, beta, mu); psi_i(theta) stacks the multinomial score of the arm,
# the logistic score of the outcome and the AIPW (or Hajek) equations of the risks; the bread
# A = -sum_i d psi_i / d theta is taken by central finite differences of sum_i psi_i(theta)
# (no analytic derivative shared with the Python code), the meat B = sum_g psi_g psi_g' over
# patients, V = A^-1 B A^-T (no small-sample factor). The multinomial fit is nnet::multinom,
# polished by Newton steps on its own score; the outcome model is glm.
suppressPackageStartupMessages({library(nnet)})
d <- read.csv("influence_data.csv", stringsAsFactors = FALSE)
arms <- c("none", "empirical", "personalized")
d$treatment_arm <- factor(d$treatment_arm, levels = arms)
d$profile_group <- factor(d$profile_group, levels = c("balanced", "dysregulated"))
d$center_id <- factor(d$center_id)
n <- nrow(d); K <- 3
Z <- model.matrix(~ age_at_biopsy_years + bmi_kg_m2 + prior_failed_transfers + center_id + profile_group, d)
A <- as.integer(d$treatment_arm)               # 1 = none (reference), 2, 3
Ind <- outer(A, 1:K, "==") * 1
y <- d$live_birth
out <- data.frame(quantity = character(), stratum = character(), arm = character(), value = numeric())
add <- function(q, s, a, v) out[nrow(out) + seq_along(v), ] <<- data.frame(q, s, a, v)

# ---- propensity: multinomial logit, gamma = (gamma_2, gamma_3) stacked class by class ----------
m <- multinom(treatment_arm ~ age_at_biopsy_years + bmi_kg_m2 + prior_failed_transfers + center_id +
                profile_group, data = d, trace = FALSE, reltol = 1e-14, maxit = 1000)
probs <- function(g) {
  G <- matrix(g, ncol = K - 1)
  E <- cbind(0, Z %*% G)
  E <- exp(E - apply(E, 1, max))
  E / rowSums(E)
}
score_gamma <- function(g) {  # n x p(K-1)
  P <- probs(g)
  do.call(cbind, lapply(2:K, function(b) Z * (Ind[, b] - P[, b])))
}
gamma <- as.vector(t(coef(m)))  # coef(m): rows = classes 2..K
for (it in 1:20) {             # Newton polish, information by finite differences of the score
  U <- colSums(score_gamma(gamma))
  H <- sapply(seq_along(gamma), function(j) {
    h <- 1e-6 * max(1, abs(gamma[j])); e <- replace(numeric(length(gamma)), j, h)
    (colSums(score_gamma(gamma + e)) - colSums(score_gamma(gamma - e))) / (2 * h)
  })
  step <- solve(-H, U)
  gamma <- gamma + step
  if (max(abs(step)) < 1e-13) break
}
add("multinom_max_score", "", "", max(abs(colSums(score_gamma(gamma)))))

# ---- outcome: logistic, live birth ~ arm * profile group + covariates --------------------------
fo <- live_birth ~ treatment_arm * profile_group + age_at_biopsy_years + bmi_kg_m2 + prior_failed_transfers + center_id
fit <- glm(fo, family = binomial, data = d, control = glm.control(epsilon = 1e-15, maxit = 100))
X <- model.matrix(fo, d)
X_arm <- lapply(arms, function(a) model.matrix(fo, transform(d, treatment_arm = factor(a, levels = arms))))
beta <- coef(fit)

strata <- list(all = rep(TRUE, n),
               "profile_group=balanced" = d$profile_group == "balanced",
               "profile_group=dysregulated" = d$profile_group == "dysregulated")
keys <- expand.grid(arm = 1:K, stratum = names(strata), stringsAsFactors = FALSE)
pg <- length(gamma); pb <- length(beta)

# ---- AIPW: psi_i = (multinomial score, logistic score, 1{i in s}(aug_a,i - mu_sa)) -------------
aug <- function(g, b, a) {
  P <- probs(g); mu_a <- plogis(X_arm[[a]] %*% b)
  as.vector(mu_a + (A == a) * (y - mu_a) / P[, a])
}
psi_aipw <- function(theta) {
  g <- theta[1:pg]; b <- theta[pg + 1:pb]; mu <- theta[-(1:(pg + pb))]
  eq <- sapply(seq_len(nrow(keys)), function(r) {
    s <- strata[[keys$stratum[r]]]; s * (aug(g, b, keys$arm[r]) - mu[r])
  })
  cbind(score_gamma(g), X * as.vector(y - plogis(X %*% b)), eq)
}
mu_hat <- sapply(seq_len(nrow(keys)), function(r) mean(aug(gamma, beta, keys$arm[r])[strata[[keys$stratum[r]]]]))
theta <- c(gamma, beta, mu_hat)

sandwich_of <- function(psi, theta) {
  Psi <- psi(theta)
  bread <- -sapply(seq_along(theta), function(j) {
    h <- 1e-5 * max(1, abs(theta[j])); e <- replace(numeric(length(theta)), j, h)
    (colSums(psi(theta + e)) - colSums(psi(theta - e))) / (2 * h)
  })
  G <- rowsum(Psi, d$patient_id)
  Ainv <- solve(bread)
  list(V = Ainv %*% crossprod(G) %*% t(Ainv), max_eq = max(abs(colSums(Psi))))
}
sw <- sandwich_of(psi_aipw, theta)
add("aipw_max_estimating_equation", "", "", sw$max_eq)
idx <- pg + pb + seq_len(nrow(keys))
Vmu <- sw$V[idx, idx]
add("aipw_risk", keys$stratum, arms[keys$arm], mu_hat)
add("aipw_risk_se", keys$stratum, arms[keys$arm], sqrt(diag(Vmu)))
for (s in names(strata)) for (a in 2:K) {
  i <- which(keys$stratum == s & keys$arm == a); j <- which(keys$stratum == s & keys$arm == 1)
  cvec <- replace(numeric(nrow(keys)), c(i, j), c(1, -1))
  add("aipw_rd", s, arms[a], mu_hat[i] - mu_hat[j])
  add("aipw_rd_se", s, arms[a], sqrt(drop(t(cvec) %*% Vmu %*% cvec)))
}

# ---- IPTW Hajek risks with the propensity model stacked: ATE (stabilised), ATT, ATO -----------
weights_of <- function(g, estimand) {
  P <- probs(g); e_rec <- P[cbind(1:n, A)]
  switch(estimand,
         ATE = (tabulate(A, K) / n)[A] / e_rec,
         ATT = P[, 3] / e_rec,                        # treated = personalized
         ATO = (1 / rowSums(1 / P)) / e_rec)
}
for (estimand in c("ATE", "ATT", "ATO")) {
  psi_iptw <- function(theta) {
    g <- theta[1:pg]; mu <- theta[-(1:pg)]; w <- weights_of(g, estimand)
    cbind(score_gamma(g), sapply(1:K, function(a) (A == a) * w * (y - mu[a])))
  }
  w <- weights_of(gamma, estimand)
  mu <- sapply(1:K, function(a) sum(w * y * (A == a)) / sum(w * (A == a)))
  sw <- sandwich_of(psi_iptw, c(gamma, mu))
  V <- sw$V[pg + 1:K, pg + 1:K]
  add(paste0("iptw_stacked_risk_", estimand), "all", arms, mu)
  add(paste0("iptw_stacked_risk_se_", estimand), "all", arms, sqrt(diag(V)))
  for (a in 2:K) {
    cvec <- replace(numeric(K), c(a, 1), c(1, -1))
    add(paste0("iptw_stacked_rd_se_", estimand), "all", arms[a], sqrt(drop(t(cvec) %*% V %*% cvec)))
  }
}
write.csv(out, "influence_reference.csv", row.names = FALSE)
writeLines(c(R.version.string, paste("nnet", packageVersion("nnet"))), "R_VERSIONS_influence.txt")
