// Which failures of a copy are about the whole job and which about one object, and what to
// tell the operator about each: the Copier's error policy, apart from its state machine.
#pragma once

#include <string>

#include "engine/config.h"
#include "util/result.h"

namespace rehome::engine {

/// Errors about the job rather than one object: every other object would fail the same way
/// (credentials that broke mid-run, a clock to fix, a bucket gone, bad input, a write option
/// production refuses). A 403 that names no such cause is about the object (a policy on its
/// key, its KMS key, its storage class, its owner): it fails that object only, and ObjectSync
/// stops the job when the first objects all meet it (a deny on the whole prefix).
bool is_job_fatal(const Error& error, const JobConfig& config);

/// `error` with what to do about a write option the bucket refuses (--acl, --storage-class).
Error with_job_advice(const Error& error, const JobConfig& config);

/// What to do about an object the server refused, for its record and the summary.
std::string object_refusal_advice(const Error& error);

}  // namespace rehome::engine
