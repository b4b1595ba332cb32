// Checks shared by the batch inference tests: job files for a Fixture, exactly-once output
// compared id by id with Python's predictions, and watching a running job's commits.
#pragma once

#include <boost/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "tests/integration/job_fixture.h"
#include "tests/integration/process_runner.h"

namespace aimass::testing {

// Writes fixture.dir/infer.yaml scoring the fixture's table into fixture.dir/out.
std::string WriteInferJob(const Fixture& fixture, const std::string& extra = "",
                          const std::string& input = "format: csv, header: true",
                          const std::string& schema = "id: id, features: f0..f15");

// `aimass-coordinator infer --config job --workers 2 [extra...]`.
std::vector<std::string> LocalInfer(const std::string& job, std::vector<std::string> extra = {});

using Rows = std::map<std::string, std::vector<std::string>>;  // id -> prediction, scores...

std::vector<std::string> SplitFields(const std::string& line);

// Every row of every CSV output part; an id seen twice fails the test.
Rows ReadOutputParts(const std::string& out);

// Every id of the fixture exactly once, with Python's class and scores (within 1e-4).
void RequireExactlyPythonsPredictions(const Fixture& fixture, const std::string& out);

boost::json::object Manifest(const std::string& out);
size_t CommittedParts(const std::string& out);

// Whole lines of the running job's commit log: splits whose commit is complete (a part file
// appears a moment before its line, so counting parts would race with a kill).
size_t LoggedCommits(const std::string& out);

// Waits until `out` holds at least `parts` committed parts (or the job ended first).
void WaitForCommits(const std::string& out, size_t parts, Process& job);

}  // namespace aimass::testing
