// The AWS CLI's settings files (~/.aws/credentials and ~/.aws/config, or the files
// AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE name) read in botocore's INI dialect: '#' and
// ';' comment lines, keys lower-cased, "[profile NAME]" in the config file but "[NAME]" in the
// credentials file, indented lines under an empty key are a nested block (ignored here). Values
// are taken verbatim (no inline comments), as botocore does. Which profile and which key apply
// is credentials.cc's business.
#pragma once

#include <map>
#include <string>

#include "s3/credentials.h"
#include "util/result.h"

namespace rehome::s3 {

using Section = std::map<std::string, std::string>;
using IniFile = std::map<std::string, Section>;

/// Sections by name, as the dialect above reads `text`.
IniFile parse_ini(std::string_view text);

// One file we looked at, for reading and for the message when nothing is found.
struct SettingsFile {
  std::string path;  // Empty when there is no way to name it (no HOME).
  bool exists = false;
  IniFile ini;
};

/// Reads the file `override_var` names, else ~/.aws/`default_name`. A file that is not there is
/// no error (exists = false); one that cannot be read is.
Result<SettingsFile> load_settings_file(const EnvLookup& env, const char* override_var,
                                        const char* default_name);
/// The section `name` of `file`, or null.
const Section* find_section(const SettingsFile& file, const std::string& name);
/// The value of `key` in `section` ("" when either is missing).
std::string value_of(const Section* section, const char* key);
/// The file for a message: its path, "(not found)", or that there was no HOME to look in.
std::string describe(const SettingsFile& file);

}  // namespace rehome::s3
