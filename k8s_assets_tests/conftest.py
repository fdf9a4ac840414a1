pytest_plugins = ["k8s_assets_tests.fixtures_postgres", "k8s_assets_tests.fixtures_simulator",
                  "k8s_assets_tests.fixtures_kube"]
