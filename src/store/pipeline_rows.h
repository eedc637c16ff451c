// Pipeline row operations shared by the project and pipeline repositories.
// Private to src/store.
#ifndef PLINTH_STORE_PIPELINE_ROWS_H_
#define PLINTH_STORE_PIPELINE_ROWS_H_

#include <map>
#include <string>

#include "plinth/store/database.h"

#include "plinth/store/infra_pipeline_store.h"
#include "plinth/store/sql.h"

namespace plinth::store::internal {

// Fills seq when it is 0; inserts or replaces the pipeline row.
absl::Status InsertPipeline(Connection& c, PipelineRecord* p);
// Inserts or replaces the row of a pipeline whose seq is set.
absl::Status UpsertPipeline(Connection& c, const PipelineRecord& p);
// Page size and token of a newest-first list keyed by a number (seq,
// revision): `*before` is the key to list below. INVALID_ARGUMENT for a
// negative size or a malformed token.
absl::Status ParseNumberPage(int page_size, const std::string& token, int* size, int64_t* before);
// Rows of `table` (infra_pipelines, stack_jobs) per state.
absl::StatusOr<std::map<std::string, int64_t>> CountStates(Database* db, const char* table);
// True when the project has a pipeline that has not ended.
absl::StatusOr<bool> ProjectHasActivePipeline(Connection& c, const std::string& project_id);
absl::Status Audit(Connection& c, const std::string& action, const std::string& target_type,
                   const std::string& target_id, const std::string& target_name, const std::string& actor,
                   absl::Time at);

}  // namespace plinth::store::internal

#endif  // PLINTH_STORE_PIPELINE_ROWS_H_
