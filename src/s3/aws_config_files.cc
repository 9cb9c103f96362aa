#include "s3/aws_config_files.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include "util/text.h"

namespace rehome::s3 {

namespace {

std::string_view trim(std::string_view text) {
  auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

// Section names keep their case; runs of blanks collapse so "[profile   dev]" is "profile dev".
std::string section_name(std::string_view text) {
  std::string out;
  for (char c : trim(text)) {
    bool blank = c == ' ' || c == '\t';
    if (blank && (out.empty() || out.back() == ' ')) continue;
    out.push_back(blank ? ' ' : c);
  }
  return out;
}

}  // namespace

IniFile parse_ini(std::string_view text) {
  IniFile ini;
  Section* section = nullptr;
  bool in_nested_block = false;
  while (!text.empty()) {
    auto eol = text.find('\n');
    std::string_view raw = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);

    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    bool indented = raw.front() == ' ' || raw.front() == '\t';
    if (indented && in_nested_block) continue;  // "s3 =\n  addressing_style = path"
    in_nested_block = false;
    if (line.front() == '[' && line.back() == ']') {
      section = &ini[section_name(line.substr(1, line.size() - 2))];
      continue;
    }
    auto equals = line.find_first_of("=:");
    if (section == nullptr || equals == std::string_view::npos) continue;
    auto key = ascii_lower(trim(line.substr(0, equals)));
    auto value = trim(line.substr(equals + 1));
    if (value.empty()) in_nested_block = true;
    (*section)[key] = std::string(value);
  }
  return ini;
}

Result<SettingsFile> load_settings_file(const EnvLookup& env, const char* override_var,
                                        const char* default_name) {
  SettingsFile file;
  if (auto path = env(override_var); path && !path->empty()) {
    file.path = *path;
  } else if (auto home = env("HOME"); home && !home->empty()) {
    file.path = *home + "/.aws/" + default_name;
  } else {
    return file;
  }
  std::error_code ec;
  if (!std::filesystem::exists(file.path, ec)) return file;
  std::ifstream in(file.path, std::ios::binary);
  if (!in.is_open())
    return Error::invalid_input("cannot read " + file.path + ": check its permissions");
  // Not `stream << rdbuf()`: that fails on an empty file, which is a valid (empty) settings file.
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) return Error::invalid_input("cannot read " + file.path + ": check its permissions");
  file.exists = true;
  file.ini = parse_ini(text);
  return file;
}

const Section* find_section(const SettingsFile& file, const std::string& name) {
  auto it = file.ini.find(name);
  return it == file.ini.end() ? nullptr : &it->second;
}

std::string value_of(const Section* section, const char* key) {
  if (section == nullptr) return {};
  auto it = section->find(key);
  return it == section->end() ? std::string() : it->second;
}

std::string describe(const SettingsFile& file) {
  if (file.path.empty()) return "(no HOME, no file)";
  return file.path + (file.exists ? "" : " (not found)");
}

}  // namespace rehome::s3
