#include "plinth/api/work_wire.h"

#include "absl/strings/str_cat.h"
#include "plinth/core/status_macros.h"
#include "plinth/engine/connection_env.h"
#include "plinth/engine/wire.h"

namespace plinth::api {

namespace pb = plinth::v1;
using nlohmann::json;

absl::Status ToWork(const engine::JobSpec& spec, bool require_approval,
                    const std::map<std::string, std::string>& state_files,
                    const std::set<std::string>& cached_modules, pb::StackJobWork* out) {
  out->set_job_id(spec.job_id);
  out->set_operation(std::string(engine::OperationName(spec.operation)));
  out->set_kind(spec.kind);
  out->set_api_version(spec.api_version);
  out->set_resource_id(spec.resource_id);
  out->set_module_variables_json(spec.module_variables.dump());
  out->set_engine(spec.engine);
  pb::ModuleSource* module = out->mutable_module();
  if (spec.git_module) {
    pb::GitModule* git = module->mutable_git();
    git->set_url(spec.git_module->url);
    git->set_ref(spec.git_module->ref);
    git->set_subdir(spec.git_module->subdir);
    git->set_token(spec.git_module->token);
    git->set_ssh_private_key(spec.git_module->ssh_key);
    git->set_ssh_passphrase(spec.git_module->ssh_passphrase);
    git->set_ssh_user(spec.git_module->ssh_user);
    git->set_ssh_host_fingerprint(spec.git_module->ssh_host_fingerprint);
  } else {
    PLINTH_ASSIGN_OR_RETURN(engine::FileTree tree,
                            engine::ReadTree(spec.module_dir, {".git", ".terraform", "node_modules"}));
    if (tree.files.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("module directory ", spec.module_dir, " has no files"));
    }
    const std::string digest = engine::TreeDigest(tree);
    module->set_archive_sha256(digest);
    if (!cached_modules.count(digest)) {
      for (auto& [rel, content] : tree.files) (*module->mutable_archive_files())[rel] = content;
      for (const auto& rel : tree.executable) module->add_executable(rel);
    }
  }
  out->set_runner_connection(spec.runner_connection);
  out->set_provider(spec.runner_connection_provider);
  for (const auto& [k, v] : spec.runner_connection_fields) (*out->mutable_runner_connection_fields())[k] = v;
  out->set_backend_type(spec.backend_type);
  for (const auto& [k, v] : spec.backend_config) (*out->mutable_backend_config())[k] = v;
  for (const auto& e : spec.env) out->add_env(e);
  for (const auto& [name, content] : spec.files) (*out->mutable_files())[name] = content;
  for (const auto& r : spec.secrets) out->add_redact(r);
  out->set_skip_refresh(spec.skip_refresh);
  out->set_direct_apply(spec.direct_apply);
  out->set_require_approval(require_approval);
  out->set_provider_config_json(spec.provider_config.is_null() ? "" : spec.provider_config.dump());
  out->set_pulumi_passphrase(spec.pulumi_passphrase);
  out->set_step_timeout_seconds(absl::ToInt64Seconds(spec.step_timeout));
  out->set_kill_grace_seconds(absl::ToInt64Seconds(spec.kill_grace));
  for (const auto& [rel, content] : state_files) (*out->mutable_state_files())[rel] = content;
  return absl::OkStatus();
}

absl::StatusOr<engine::JobSpec> FromWork(const pb::StackJobWork& work) {
  engine::JobSpec spec;
  if (work.job_id().empty()) return absl::InvalidArgumentError("stack_job.job_id: empty");
  spec.job_id = work.job_id();
  if (!engine::ParseOperation(work.operation(), &spec.operation)) {
    return absl::InvalidArgumentError(absl::StrCat("stack_job.operation: \"", work.operation(), "\" is not an operation"));
  }
  if (work.engine() != "tofu" && work.engine() != "terraform" && work.engine() != "pulumi") {
    return absl::InvalidArgumentError(absl::StrCat("stack_job.engine: \"", work.engine(), "\" is not an engine"));
  }
  spec.kind = work.kind();
  spec.api_version = work.api_version();
  spec.resource_id = work.resource_id();
  spec.module_variables = json::parse(work.module_variables_json(), nullptr, false);
  if (!spec.module_variables.is_object()) {
    return absl::InvalidArgumentError("stack_job.module_variables_json: not a JSON object");
  }
  spec.engine = work.engine();
  if (work.module().has_git()) {
    const pb::GitModule& git = work.module().git();
    if (git.url().empty()) return absl::InvalidArgumentError("stack_job.module.git.url: empty");
    spec.git_module = engine::GitModuleSource{git.url(), git.ref(), git.subdir(), git.token()};
    spec.git_module->ssh_key = git.ssh_private_key();
    spec.git_module->ssh_passphrase = git.ssh_passphrase();
    spec.git_module->ssh_user = git.ssh_user();
    spec.git_module->ssh_host_fingerprint = git.ssh_host_fingerprint();
  } else if (work.module().archive_sha256().empty()) {
    return absl::InvalidArgumentError("stack_job.module: neither git nor archive_sha256 is set");
  }
  spec.runner_connection = work.runner_connection();
  spec.runner_connection_provider = work.provider();
  for (const auto& [k, v] : work.runner_connection_fields()) spec.runner_connection_fields[k] = v;
  if (!spec.runner_connection.empty() && engine::FindProvider(spec.runner_connection_provider) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("stack_job.provider: \"", spec.runner_connection_provider,
                                                   "\" is not a provider"));
  }
  spec.backend_type = work.backend_type();
  for (const auto& [k, v] : work.backend_config()) spec.backend_config[k] = v;
  spec.env.assign(work.env().begin(), work.env().end());
  for (const auto& [name, content] : work.files()) {
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
      return absl::InvalidArgumentError(absl::StrCat("stack_job.files: \"", name, "\" is not a file name"));
    }
    spec.files.emplace_back(name, content);
  }
  spec.secrets.assign(work.redact().begin(), work.redact().end());
  spec.skip_refresh = work.skip_refresh();
  spec.direct_apply = work.direct_apply();
  if (!work.provider_config_json().empty()) {
    spec.provider_config = json::parse(work.provider_config_json(), nullptr, false);
    if (spec.provider_config.is_discarded()) {
      return absl::InvalidArgumentError("stack_job.provider_config_json: not JSON");
    }
  }
  spec.pulumi_passphrase = work.pulumi_passphrase();
  if (work.step_timeout_seconds() > 0) spec.step_timeout = absl::Seconds(work.step_timeout_seconds());
  if (work.kill_grace_seconds() > 0) spec.kill_grace = absl::Seconds(work.kill_grace_seconds());
  return spec;
}

}  // namespace plinth::api
