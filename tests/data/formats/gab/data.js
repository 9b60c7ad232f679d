window.BENCHMARK_DATA = {
  "lastUpdate": 1686275157409,
  "repoUrl": "https://github.com/example/proj",
  "entries": {
    "Go Benchmark": [
      {
        "commit": {
          "author": {
            "email": "dev@example.org",
            "name": "Dev",
            "username": "dev"
          },
          "committer": {
            "email": "dev@example.org",
            "name": "Dev",
            "username": "dev"
          },
          "distinct": true,
          "id": "5b9d391540071a6949a17630f6e53713d0f91329",
          "message": "first",
          "timestamp": "2023-06-01T09:45:29+08:00",
          "tree_id": "4a3d25b2f7d0bc14c821f82edf48a9f219c09250",
          "url": "https://github.com/example/proj/commit/5b9d391540071a6949a17630f6e53713d0f91329"
        },
        "date": 1685584000000,
        "tool": "go",
        "benches": [
          {
            "name": "BenchmarkFib10",
            "value": 401,
            "unit": "ns/op",
            "extra": "3000000 times\n2 procs"
          },
          {
            "name": "BenchmarkFib10 - MB/s",
            "value": 120.5,
            "unit": "MB/s",
            "extra": "3000000 times\n2 procs"
          }
        ]
      },
      {
        "commit": {
          "author": {
            "email": "dev@example.org",
            "name": "Dev",
            "username": "dev"
          },
          "committer": {
            "email": "dev@example.org",
            "name": "Dev",
            "username": "dev"
          },
          "distinct": true,
          "id": "92cdc99c6c6ed652322e0bd18c34a2d201641a81",
          "message": "second",
          "timestamp": "2023-06-02T09:45:29+08:00",
          "tree_id": "4a3d25b2f7d0bc14c821f82edf48a9f219c09250",
          "url": "https://github.com/example/proj/commit/92cdc99c6c6ed652322e0bd18c34a2d201641a81"
        },
        "date": 1685670400000,
        "tool": "go",
        "benches": [
          {
            "name": "BenchmarkFib10",
            "value": 405,
            "unit": "ns/op",
            "extra": "3000000 times\n2 procs"
          },
          {
            "name": "BenchmarkFib10 - MB/s",
            "value": 119.0,
            "unit": "MB/s",
            "extra": "3000000 times\n2 procs"
          }
        ]
      },
      {
        "commit": {
          "author": {
            "email": "dev@example.org",
            "name": "Dev",
            "username": "dev"
          },
          "committer": {
            "email": "dev@example.org",
            "name": "Dev",
            "username": "dev"
          },
          "distinct": true,
          "id": "92cdc99c6c6ed652322e0bd18c34a2d201641a81",
          "message": "second (re-run)",
          "timestamp": "2023-06-02T09:45:29+08:00",
          "tree_id": "4a3d25b2f7d0bc14c821f82edf48a9f219c09250",
          "url": "https://github.com/example/proj/commit/92cdc99c6c6ed652322e0bd18c34a2d201641a81"
        },
        "date": 1685671400000,
        "tool": "go",
        "benches": [
          {
            "name": "BenchmarkFib10",
            "value": 399,
            "unit": "ns/op",
            "extra": "3000000 times\n2 procs"
          },
          {
            "name": "BenchmarkFib10 - MB/s",
            "value": 121.0,
            "unit": "MB/s",
            "extra": "3000000 times\n2 procs"
          }
        ]
      },
      {
        "commit": {
          "author": {
            "email": "dev@example.org",
            "name": "Dev",
            "username": "dev"
          },
          "committer": {
            "email": "dev@example.org",
            "name": "Dev",
            "username": "dev"
          },
          "distinct": true,
          "id": "0889c8d45172e1db2ccc41310690ff47a4cffa0b",
          "message": "third",
          "timestamp": "2023-06-03T09:45:29+08:00",
          "tree_id": "4a3d25b2f7d0bc14c821f82edf48a9f219c09250",
          "url": "https://github.com/example/proj/commit/0889c8d45172e1db2ccc41310690ff47a4cffa0b"
        },
        "date": 1685756800000,
        "tool": "go",
        "benches": [
          {
            "name": "BenchmarkFib10",
            "value": 398,
            "unit": "ns/op",
            "extra": "3000000 times\n2 procs"
          },
          {
            "name": "BenchmarkFib10 - MB/s",
            "value": 122.0,
            "unit": "MB/s",
            "extra": "3000000 times\n2 procs"
          }
        ]
      }
    ],
    "Python Benchmark with pytest-benchmark": [
      {
        "commit": {
          "author": {
            "email": "dev@example.org",
            "name": "Dev",
            "username": "dev"
          },
          "committer": {
            "email": "dev@example.org",
            "name": "Dev",
            "username": "dev"
          },
          "distinct": true,
          "id": "5b9d391540071a6949a17630f6e53713d0f91329",
          "message": "first",
          "timestamp": "2023-06-01T09:45:29+08:00",
          "tree_id": "4a3d25b2f7d0bc14c821f82edf48a9f219c09250",
          "url": "https://github.com/example/proj/commit/5b9d391540071a6949a17630f6e53713d0f91329"
        },
        "date": 1685584100000,
        "tool": "pytest",
        "benches": [
          {
            "name": "bench.py::test_fib_10",
            "value": 59573.92304802095,
            "unit": "iter/sec",
            "range": "stddev: 4.841850108131118e-7",
            "extra": "mean: 16.785867856879705 usec\nrounds: 40161"
          }
        ]
      },
      {
        "commit": {
          "author": {
            "email": "dev@example.org",
            "name": "Dev",
            "username": "dev"
          },
          "committer": {
            "email": "dev@example.org",
            "name": "Dev",
            "username": "dev"
          },
          "distinct": true,
          "id": "0889c8d45172e1db2ccc41310690ff47a4cffa0b",
          "message": "third",
          "timestamp": "2023-06-03T09:45:29+08:00",
          "tree_id": "4a3d25b2f7d0bc14c821f82edf48a9f219c09250",
          "url": "https://github.com/example/proj/commit/0889c8d45172e1db2ccc41310690ff47a4cffa0b"
        },
        "date": 1685756900000,
        "tool": "pytest",
        "benches": [
          {
            "name": "bench.py::test_fib_10",
            "value": 60012.5,
            "unit": "iter/sec",
            "range": "stddev: 4.9e-7",
            "extra": "mean: 16.66 usec\nrounds: 40001"
          }
        ]
      }
    ]
  }
};
