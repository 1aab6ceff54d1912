"""What the tests share: the app in process (`app`), the servers they start as processes (`launcher`, `postgres`),
the engine-neutral store suite (`store_suite`), the Helm chart rendered (`helm`) and the repository's paths
(`paths`). No test module imports another: what two need lives here."""
