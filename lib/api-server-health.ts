/**
 * How a load balancer decides whether one kube-apiserver should get traffic: the one definition
 * that every load-balancer kind with active health checks uses (HAProxy's httpchk; the AWS NLB's
 * target-group health check).
 *
 * kube-apiserver's /readyz includes its etcd checks (`etcd`, and `etcd-readiness` since 1.30). Every
 * API server shares the same etcd cluster, so an etcd leader election (1-2 s, measured) fails all
 * of them at once: a balancer that probes plain /readyz then marks every master down together and
 * cuts every watch, although each API server is fine and the hiccup would be over before clients
 * noticed. These checks say nothing about one backend, so they are excluded from the per-backend
 * decision. kube-apiserver honours `?exclude=<check>` on /readyz and /livez, answers "ok" (200)
 * when the remaining checks pass, and ignores (with a warning in the verbose output) an excluded
 * name it does not have. Everything else stays in: a crashed, frozen or black-holed master fails
 * the probe, and so does one that is shutting down (the `shutdown` check) or still starting
 * (`informer-sync`, the post-start hooks).
 *
 * What no per-backend probe can see: an API server whose own connection to a healthy etcd is
 * broken while the others' work. It stays in rotation and its requests fail until kube-apiserver
 * restarts (client-go retries those); that is the price of not emptying the balancer on every
 * etcd election.
 */

/** kube-apiserver's /readyz checks that report on etcd, which every API server shares. */
export const ETCD_READY_CHECKS = ["etcd", "etcd-readiness"] as const;

/** Path (with query) that load balancers probe on each API server over HTTPS. */
export const API_SERVER_PROBE_PATH = `/readyz?${ETCD_READY_CHECKS.map((check) => `exclude=${check}`).join("&")}`;
