#include "integrations/backlog/ticket_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "integrations/securityhub/test_samples.h"
#include "integrations/securityhub/ticket_decision.h"

namespace hikyaku::integrations::backlog {
namespace {

using securityhub::Action;
using securityhub::Decision;
using securityhub::FieldChange;
using securityhub::Finding;
using securityhub::FindingKey;
using securityhub::LedgerEntry;
using securityhub::Resource;
using securityhub::testing::sample_finding;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr std::string_view kWordJoiner = "\u2060";

Resource resource(std::string type, std::string id, std::string region = "") {
  return Resource{
      .type = std::move(type), .id = std::move(id), .region = std::move(region), .partition = ""};
}

std::string format_name(TextFormat format) {
  return format == TextFormat::kMarkdown ? "markdown" : "backlog";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) {
    lines.push_back(line);
  }
  return lines;
}

// Occurrences of `needle` in `text`.
size_t count(std::string_view text, std::string_view needle) {
  size_t found = 0;
  for (size_t pos = text.find(needle); pos != text.npos; pos = text.find(needle, pos + 1)) {
    ++found;
  }
  return found;
}

// True when `text` is valid UTF-8 (text_length reads a bad byte as U+FFFD, which this catches
// for text that has none).
bool has_replacement_character(std::string_view text) { return text.find("\uFFFD") != text.npos; }

TEST(TicketTextTest, TextFormatOfProjectRule) {
  EXPECT_EQ(text_format_of("markdown"), TextFormat::kMarkdown);
  EXPECT_EQ(text_format_of("backlog"), TextFormat::kBacklog);
  EXPECT_EQ(text_format_of(""), TextFormat::kBacklog);
  EXPECT_EQ(text_format_of("Markdown "), TextFormat::kBacklog);
}

TEST(TicketTextTest, MarkerIsTheKeyInLettersOnly) {
  const FindingKey key = FindingKey::of("arn:aws:securityhub:::product/aws/securityhub", "id-1");
  const std::string marker = finding_marker(key);
  ASSERT_EQ(marker.size(), kFindingMarkerPrefix.size() + 32);
  EXPECT_THAT(marker, StartsWith(kFindingMarkerPrefix));
  const std::string hex = key.str().substr(FindingKey::kPrefix.size());
  for (size_t i = 0; i < hex.size(); ++i) {
    const char letter = marker[kFindingMarkerPrefix.size() + i];
    EXPECT_GE(letter, 'a');
    EXPECT_LE(letter, 'p');
    EXPECT_EQ("0123456789abcdef"[letter - 'a'], hex[i]) << i;
  }
  EXPECT_NE(finding_marker(FindingKey::of("arn:aws:securityhub:::product/aws/securityhub", "id-2")),
            marker);
}

TEST(TicketTextTest, ConsoleLinkFindsTheFindingByIdInItsRegion) {
  const Finding finding = sample_finding("01-fsbp-ec2-19-critical-failed.json");
  EXPECT_EQ(console_link(finding),
            "https://ap-northeast-1.console.aws.amazon.com/securityhub/home?region=ap-northeast-1"
            "#/findings?search=Id%3D%255Coperator%255C%253AEQUALS%255C%253A"
            "arn%253Aaws%253Asecurityhub%253Aap-northeast-1%253A123456789012%253Asecurity-control"
            "%252FEC2.19%252Ffinding%252F0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9");
}

TEST(TicketTextTest, ConsoleLinkFollowsThePartition) {
  Finding finding;
  finding.id = "f/1";
  finding.product_arn = "arn:aws-cn:securityhub:cn-north-1::product/aws/securityhub";
  finding.region = "cn-north-1";
  EXPECT_THAT(console_link(finding),
              StartsWith("https://console.amazonaws.cn/securityhub/home?region=cn-north-1#"));
  finding.product_arn = "arn:aws-us-gov:securityhub:us-gov-west-1::product/aws/securityhub";
  finding.region = "us-gov-west-1";
  EXPECT_THAT(
      console_link(finding),
      StartsWith("https://console.amazonaws-us-gov.com/securityhub/home?region=us-gov-west-1#"));
  finding.product_arn = "";
  finding.region = "cn-northwest-1";
  EXPECT_THAT(console_link(finding), StartsWith("https://console.amazonaws.cn/"));
  finding.region = "not a region\"><script>";
  finding.resources = {resource("Other", "x", "eu-west-1")};
  EXPECT_THAT(console_link(finding),
              StartsWith("https://eu-west-1.console.aws.amazon.com/securityhub/home?region="
                         "eu-west-1#/findings?search="));
  EXPECT_THAT(console_link(finding), EndsWith("%253Af%252F1"));
}

// The samples, in both formats.
struct SampleCase {
  std::string file;
  TextFormat format;
};

std::string case_name(const ::testing::TestParamInfo<SampleCase>& info) {
  return "sample" + info.param.file.substr(0, 2) + "_" + format_name(info.param.format);
}

class TicketTextSampleTest : public ::testing::TestWithParam<SampleCase> {};

TEST_P(TicketTextSampleTest, SummaryIsSeverityControlAndTitle) {
  const Finding finding = sample_finding(GetParam().file);
  const TicketText text = ticket_text(finding, GetParam().format);
  std::string expected = "[" + finding.severity_label + "] ";
  if (!finding.security_control_id.empty()) {
    expected += finding.security_control_id + " ";
  }
  expected += finding.title;
  EXPECT_EQ(text.summary, expected);
  EXPECT_LE(text_length(text.summary), kSummaryLimit);
}

TEST_P(TicketTextSampleTest, DescriptionListsEverything) {
  const Finding finding = sample_finding(GetParam().file);
  const TextFormat format = GetParam().format;
  const std::string description = ticket_text(finding, format).description;
  const bool markdown = format == TextFormat::kMarkdown;
  EXPECT_LE(text_length(description), kDescriptionLimit);
  EXPECT_FALSE(has_replacement_character(description));

  EXPECT_THAT(description, StartsWith(markdown ? "## " : "** "));
  EXPECT_THAT(description, HasSubstr(markdown ? "### Resources" : "*** Resources"));
  const std::string bold_severity = markdown ? "**Severity:** " : "''Severity:'' ";
  EXPECT_THAT(description, HasSubstr(bold_severity + finding.severity_label));
  if (!finding.severity_original.empty() && finding.severity_original != finding.severity_label) {
    EXPECT_THAT(description, HasSubstr("original: " + finding.severity_original));
  }
  if (!finding.security_control_id.empty()) {
    EXPECT_THAT(description, HasSubstr(finding.security_control_id));
  }
  EXPECT_THAT(description, HasSubstr(finding.product_name));
  EXPECT_THAT(description, HasSubstr(finding.company_name));
  EXPECT_THAT(description, HasSubstr(finding.aws_account_id));
  EXPECT_THAT(description, HasSubstr(finding.region));
  ASSERT_FALSE(finding.resources.empty());
  for (const Resource& resource : finding.resources) {
    EXPECT_THAT(description, HasSubstr(resource.type + ": " + resource.id));
  }
  EXPECT_THAT(description, HasSubstr(neutralized(finding.description, format)));
  if (!finding.remediation_text.empty()) {
    EXPECT_THAT(description, HasSubstr(neutralized(finding.remediation_text, format)));
  }
  const auto link = [&](std::string_view label, std::string_view url) {
    return markdown ? "[" + std::string(label) + "](" + std::string(url) + ")"
                    : "[[" + std::string(label) + ">" + std::string(url) + "]]";
  };
  if (!finding.remediation_url.empty() && finding.remediation_url.find('"') == std::string::npos) {
    EXPECT_THAT(description, HasSubstr(link("Remediation instructions", finding.remediation_url)));
  }
  if (!finding.source_url.empty()) {
    EXPECT_THAT(description, HasSubstr(link("The finding at its provider", finding.source_url)));
  }
  EXPECT_THAT(description, HasSubstr(link("Open this finding in the Security Hub console",
                                          console_link(finding))));
  for (const std::string* time : {&finding.created_at, &finding.updated_at,
                                  &finding.first_observed_at, &finding.last_observed_at}) {
    ASSERT_FALSE(time->empty());
    EXPECT_THAT(description, HasSubstr(*time));
  }
  EXPECT_THAT(description, HasSubstr(finding.id));
  EXPECT_THAT(description, HasSubstr(finding.product_arn));
  EXPECT_THAT(description, HasSubstr(finding_marker(finding.key)));
  EXPECT_EQ(count(description, finding_marker(finding.key)), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Samples, TicketTextSampleTest, ::testing::ValuesIn([] {
      std::vector<SampleCase> cases;
      for (const char* file :
           {"01-fsbp-ec2-19-critical-failed.json", "05-guardduty-ec2-cryptomining-high.json",
            "06-inspector-cve-2024-3094-critical.json", "07-macie-s3-personal-data-high.json",
            "13-custom-unicode-japanese-quotes-newlines.json",
            "14-inspector-large-near-240kb-finding.json"}) {
        for (const TextFormat format : {TextFormat::kMarkdown, TextFormat::kBacklog}) {
          cases.push_back({file, format});
        }
      }
      return cases;
    }()),
    case_name);

constexpr const char* kJapaneseSample = "13-custom-unicode-japanese-quotes-newlines.json";

TEST(TicketTextTest, JapaneseTextStaysIntact) {
  const Finding finding = sample_finding(kJapaneseSample);
  for (const TextFormat format : {TextFormat::kMarkdown, TextFormat::kBacklog}) {
    SCOPED_TRACE(format_name(format));
    const TicketText text = ticket_text(finding, format);
    EXPECT_EQ(text.summary,
              "[HIGH] RDS スナップショット \"prod-db-2026-03-01\" が公開状態 ⚠️ "
              "(要対応)");
    EXPECT_THAT(text.description, HasSubstr("RDS スナップショット \"prod-db-2026-03-01\" "
                                            "が公開状態 ⚠️ (要対応)"));
    for (const char* piece :
         {"本番 RDS スナップショット \"prod-db-2026-03-01\" が「全員 (all)」に公開されています。",
          "影響: "
          "第三者がスナップショットを自分のアカウントへコピーし、顧客データ（氏名・住所・電話番号）"
          "を復元できます。",
          "検出ルール: RDS-SNAPSHOT-PUBLIC (v2)", "絵文字: 🚨🔒 半角カナ: ｾｷｭﾘﾃｨ 囲み文字: ①②",
          "行区切り(U+2028):", "\n終わり", "重大度: 高", "Example Corp 情報セキュリティ部",
          "スナップショットの共有設定から \"all\" を削除してください。",
          "手順: RDS コンソール → スナップショット → アクション → スナップショットの共有"}) {
      EXPECT_THAT(text.description, HasSubstr(piece));
    }
    EXPECT_THAT(text.description, Not(HasSubstr("\u2028")));
    EXPECT_FALSE(has_replacement_character(text.description));
  }
}

TEST(TicketTextTest, BacklogNotationInFindingTextDoesNotTakeEffect) {
  const std::string description =
      ticket_text(sample_finding(kJapaneseSample), TextFormat::kBacklog).description;
  for (const char* markup :
       {"''太字''", "''", "%%取消%%", "%%", "{code}", "{/code}", "&br;", "[[リンク", "[[", "]]"}) {
    SCOPED_TRACE(markup);
    // Only hikyaku's own bold labels and links may carry the sequence.
    const std::string_view text = description;
    size_t own = 0;
    if (std::string_view(markup) == "''") {
      own = 2 * count(text, ":'' ");
    } else if (std::string_view(markup) == "[[" || std::string_view(markup) == "]]") {
      own = count(text, "[[Open this finding") + count(text, "[[Remediation instructions");
    }
    EXPECT_EQ(count(text, markup), own) << description;
  }
  const std::string wj(kWordJoiner);
  for (const std::string& neutral :
       std::vector<std::string>{"'" + wj + "'太字'" + wj + "'", "%" + wj + "%取消%" + wj + "%",
                                "{" + wj + "code}rm -rf /{" + wj + "/code}", "&" + wj + "br;",
                                "[" + wj + "[リンク>https://example.com/?a=1&b=2]" + wj + "]",
                                "C:\\audit\\rules\\rds\\public.yml", "<script>alert('x')</script>",
                                "{\"key\": [1, 2]}"}) {
    EXPECT_THAT(description, HasSubstr(neutral));
  }
  // The link target's quotes are percent-encoded, so the URL cannot end the link early.
  EXPECT_THAT(description,
              HasSubstr("[[Remediation instructions>https://wiki.example.com/security/runbooks/"
                        "rds-public-snapshot?lang=ja&ref=%22shub%22]]"));
}

TEST(TicketTextTest, MarkdownInJapaneseSampleIsEscaped) {
  const std::string description =
      ticket_text(sample_finding(kJapaneseSample), TextFormat::kMarkdown).description;
  EXPECT_THAT(description, HasSubstr("\\[\\[リンク>https://example.com/?a=1&b=2\\]\\]"));
  EXPECT_THAT(description, HasSubstr("HTML風: \\<script>alert('x')\\</script>"));
  EXPECT_THAT(description, HasSubstr("C:\\\\audit\\\\rules\\\\rds\\\\public.yml"));
  // The tab-indented lines stay indented text, not a code block or a list.
  EXPECT_THAT(
      description,
      HasSubstr("  \n\u00a0\u00a0\u00a0\u00a0\\- 検出ルール: RDS-SNAPSHOT-PUBLIC (v2)  \n"));
  EXPECT_THAT(description,
              HasSubstr("[Remediation instructions](https://wiki.example.com/security/runbooks/"
                        "rds-public-snapshot?lang=ja&ref=%22shub%22)"));
}

Finding hostile_finding() {
  Finding finding = sample_finding("01-fsbp-ec2-19-critical-failed.json");
  finding.title = "# Title [x](https://evil.example) **bold** @admin";
  finding.description =
      "# heading\n"
      "## heading two\n"
      "[click](https://evil.example)\n"
      "![img](https://evil.example/a.png)\n"
      "<a href=\"https://evil.example\">x</a>\n"
      "<https://evil.example>\n"
      "    indented code\n"
      "1. one\n"
      "2) two\n"
      "> quote\n"
      "---\n"
      "=== \n"
      "* star item\n"
      "+ plus item\n"
      "- dash item\n"
      "| a | b |\n"
      "|---|---|\n"
      "```\nfence\n```\n"
      "[ref]: https://evil.example\n"
      "&lt;entity&gt; &#x41;\n"
      "{quote}q{/quote} #image(https://evil.example/a.png) &color(red) { red }\n"
      "'''italic''' [[SEC-1]] [[label>https://evil.example]]\n"
      "@admin please look\r\n"
      "bidi \u202Egnp.exe\u202C and a bell \a and an escape \x1b[31m";
  finding.resources = {
      resource("- Other", "> not a quote"),
      resource("1. Other", "[x](https://evil.example)"),
  };
  finding.remediation_url = "javascript:alert(1)";
  finding.source_url = "https://evil.example/a]]b)c<d>'e'f@g;h%zz";
  return finding;
}

TEST(TicketTextTest, MarkdownSpecialTextCannotOpenALinkOrHeading) {
  const Finding finding = hostile_finding();
  const std::string description = ticket_text(finding, TextFormat::kMarkdown).description;

  // Every "](" that starts a link target is one of hikyaku's own links (the console link and the
  // provider's page): finding text always has its "]" escaped.
  size_t links = 0;
  for (size_t pos = description.find("]("); pos != std::string::npos;
       pos = description.find("](", pos + 1)) {
    if (pos == 0 || description[pos - 1] != '\\') {
      ++links;
    }
  }
  EXPECT_EQ(links, 2u) << description;
  EXPECT_THAT(description, HasSubstr("\\[click\\](https://evil.example)"));
  EXPECT_THAT(description, HasSubstr("!\\[img\\](https://evil.example/a.png)"));
  EXPECT_THAT(description, HasSubstr("\\[ref\\]: https://evil.example"));
  EXPECT_THAT(description, Not(HasSubstr("- - Other:")));
  EXPECT_THAT(description, HasSubstr("- \\- Other: \\> not a quote"));
  EXPECT_THAT(description, HasSubstr("- 1\\. Other: \\[x\\](https://evil.example)"));

  // The only headings are hikyaku's: the title line and the section names.
  const std::vector<std::string> lines = lines_of(description);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "## \\# Title \\[x\\](https://evil.example) \\*\\*bold\\*\\* @\u2060admin");
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.starts_with("#")) {
      EXPECT_THAT(line, ::testing::AnyOf("### Resources", "### Description", "### Remediation",
                                         "### Links", "### Timeline", "### Identifiers"));
    }
    // No line of the finding's text starts a block: quote, list, HTML, fence, table, setext.
    for (const char* opener : {">", "* ", "+ ", "1.", "2)", "<", "```", "|", "---", "===", " "}) {
      EXPECT_FALSE(line.starts_with(opener)) << line;
    }
    if (line.starts_with("- ")) {
      EXPECT_TRUE(line.starts_with("- **") || line.starts_with("- [") || line.starts_with("- \\") ||
                  line.starts_with("- 1\\."))
          << line;
    }
  }
  for (const char* escaped :
       {"\\# heading  \n", "\\#\\# heading two", "\\<a href=\"https://evil.example\">x\\</a>",
        "\\<https://evil.example>", "\u00a0\u00a0\u00a0\u00a0indented code", "1\\. one", "2\\) two",
        "\\> quote", "\\---", "\\=== ", "\\* star item", "\\+ plus item", "\\- dash item",
        "\\| a \\| b \\|", "\\`\\`\\`", "\\&lt;entity\\&gt; \\&\\#x41;",
        "@\u2060admin please look  \n", "bidi \uFFFDgnp.exe\uFFFD and a bell \uFFFD"}) {
    EXPECT_THAT(description, HasSubstr(escaped));
  }
  // Not an http(s) URL: shown, not linked.
  EXPECT_THAT(description, HasSubstr("Remediation instructions (not linked): javascript:alert(1)"));
  EXPECT_THAT(description, HasSubstr("[The finding at its provider](https://evil.example/"
                                     "a%5D%5Db%29c%3Cd%3E%27e%27f%40g%3Bh%25zz)"));
}

TEST(TicketTextTest, BacklogMarkupInHostileFindingIsBroken) {
  const Finding finding = hostile_finding();
  const std::string description = ticket_text(finding, TextFormat::kBacklog).description;
  const std::string wj(kWordJoiner);
  for (const std::string& neutral : std::vector<std::string>{
           wj + "* star item", wj + "+ plus item", wj + "- dash item", wj + "> quote",
           wj + "| a | b |", wj + "---", "{" + wj + "quote}q{" + wj + "/quote}",
           "#" + wj + "image(https://evil.example/a.png)", "&" + wj + "color(red) { red }",
           "'" + wj + "'" + wj + "'italic'" + wj + "'" + wj + "'", "[" + wj + "[SEC-1]" + wj + "]",
           "[" + wj + "[label>https://evil.example]" + wj + "]", "@" + wj + "admin please look\n",
           "- " + wj + "- Other: " + wj + "> not a quote"}) {
    EXPECT_THAT(description, HasSubstr(neutral)) << description;
  }
  // "# heading" is no Backlog markup, but "#image(" is.
  EXPECT_THAT(description, HasSubstr("\n# heading\n"));
  EXPECT_THAT(description, Not(HasSubstr("#image(")));
  EXPECT_THAT(description, Not(HasSubstr("\n* ")));
  EXPECT_THAT(description, Not(HasSubstr("\n> ")));
  EXPECT_THAT(description, Not(HasSubstr("\n| ")));
  EXPECT_THAT(description, Not(HasSubstr("@admin")));
  EXPECT_THAT(description, Not(HasSubstr("\r")));
  EXPECT_THAT(description, Not(HasSubstr("\x1b")));
  EXPECT_EQ(count(description, "[["), 2u);  // the console link and the provider's page
  EXPECT_THAT(description, HasSubstr("[[The finding at its provider>https://evil.example/"
                                     "a%5D%5Db%29c%3Cd%3E%27e%27f%40g%3Bh%25zz]]"));
}

TEST(TicketTextTest, LargeInspectorFindingStaysUnderTheCap) {
  const Finding finding = sample_finding("14-inspector-large-near-240kb-finding.json");
  for (const TextFormat format : {TextFormat::kMarkdown, TextFormat::kBacklog}) {
    const std::string description = ticket_text(finding, format).description;
    EXPECT_LE(text_length(description), kDescriptionLimit);
    EXPECT_THAT(description, HasSubstr(finding_marker(finding.key)));
  }
}

TEST(TicketTextTest, ManyResourcesAndAHugeDescriptionAreCut) {
  Finding finding = sample_finding("06-inspector-cve-2024-3094-critical.json");
  for (int i = 0; i < 900; ++i) {
    finding.resources.push_back(
        resource("AwsEcrContainerImage",
                 "arn:aws:ecr:ap-northeast-1:123456789012:repository/r" + std::to_string(i)));
  }
  std::string huge;
  while (huge.size() < 200'000) {
    huge += "パッケージ libz-helper-" + std::to_string(huge.size()) + " は脆弱です。\n";
  }
  finding.description = huge;
  for (const TextFormat format : {TextFormat::kMarkdown, TextFormat::kBacklog}) {
    SCOPED_TRACE(format_name(format));
    const std::string description = ticket_text(finding, format).description;
    EXPECT_LE(text_length(description), kDescriptionLimit);
    EXPECT_GT(text_length(description), kDescriptionLimit - 500);
    EXPECT_THAT(description, HasSubstr("r18\n"));
    EXPECT_THAT(description, Not(HasSubstr("r19\n")));
    EXPECT_THAT(description, HasSubstr("… and 881 more (the Security Hub console lists them all)"));
    EXPECT_THAT(description,
                HasSubstr("…\n\n(The description is cut here to keep this ticket under 30000 "
                          "characters; the Security Hub console shows it whole.)"));
    EXPECT_THAT(description, HasSubstr(finding_marker(finding.key)));
    EXPECT_THAT(description, HasSubstr(finding.product_arn));
    EXPECT_FALSE(has_replacement_character(description));
  }
}

TEST(TicketTextTest, EveryFieldAtItsWorstStillFitsAndKeepsTheMarker) {
  Finding finding = sample_finding("01-fsbp-ec2-19-critical-failed.json");
  // Characters that escape to two in Markdown ("_") or gain a word joiner in Backlog ("''").
  const std::string markdown_worst(5000, '_');
  const std::string backlog_worst(5000, '\'');
  for (const TextFormat format : {TextFormat::kMarkdown, TextFormat::kBacklog}) {
    SCOPED_TRACE(format_name(format));
    const std::string& worst = format == TextFormat::kMarkdown ? markdown_worst : backlog_worst;
    for (std::string* field :
         {&finding.title, &finding.description, &finding.severity_label, &finding.severity_original,
          &finding.security_control_id, &finding.product_name, &finding.company_name,
          &finding.aws_account_id, &finding.region, &finding.created_at, &finding.first_observed_at,
          &finding.last_observed_at, &finding.product_arn, &finding.remediation_text}) {
      *field = worst;
    }
    finding.id = std::string(512, '/');  // each "/" becomes "%252F" in the console link
    finding.remediation_url = "https://example.com/" + std::string(2000, 'a');
    finding.source_url = "https://example.com/" + std::string(2000, 'b');
    finding.resources.assign(100, resource(worst, worst));
    const TicketText text = ticket_text(finding, format);
    EXPECT_LE(text_length(text.summary), kSummaryLimit);
    EXPECT_LE(text_length(text.description), kDescriptionLimit);
    EXPECT_THAT(text.description, HasSubstr(finding_marker(finding.key)));
    EXPECT_THAT(text.description, HasSubstr("(The description is cut here"));
  }
}

TEST(TicketTextTest, SummaryIsOneLineCutOnACharacterBoundary) {
  Finding finding = sample_finding(kJapaneseSample);
  finding.title = "一行目\n二行目\t\u2028三行目";
  EXPECT_EQ(ticket_text(finding, TextFormat::kBacklog).summary, "[HIGH] 一行目 二行目 三行目");

  std::string long_title;
  for (int i = 0; i < 200; ++i) {
    long_title += "脆弱性🚨";
  }
  finding.title = long_title;
  const std::string summary = ticket_text(finding, TextFormat::kMarkdown).summary;
  EXPECT_LE(text_length(summary), kSummaryLimit);
  EXPECT_GE(text_length(summary), kSummaryLimit - 1);  // an emoji is two units
  EXPECT_THAT(summary, StartsWith("[HIGH] 脆弱性🚨脆弱性"));
  EXPECT_THAT(summary, EndsWith("…"));
  EXPECT_FALSE(has_replacement_character(summary));

  finding.title = "";
  finding.severity_label = "";
  EXPECT_EQ(ticket_text(finding, TextFormat::kMarkdown).summary, "Security Hub finding");
}

TEST(TicketTextTest, TextLengthCountsUtf16Units) {
  EXPECT_EQ(text_length(""), 0u);
  EXPECT_EQ(text_length("abc"), 3u);
  EXPECT_EQ(text_length("日本語"), 3u);
  EXPECT_EQ(text_length("🚨"), 2u);
}

// The ledger of one finding, driven through the decision table, as the ticketing side will.
class Chain {
 public:
  Decision receive(const Finding& finding) {
    const Decision decision = securityhub::decide(entry_, finding, true);
    entry_ = securityhub::next_entry(entry_, finding, decision);
    return decision;
  }
  Decision receive(const std::string& sample) { return receive(sample_finding(sample)); }

 private:
  std::optional<LedgerEntry> entry_;
};

class CommentTest : public ::testing::TestWithParam<TextFormat> {};

TEST_P(CommentTest, ResolveWhenTheControlPasses) {
  Chain chain;
  ASSERT_EQ(chain.receive("01-fsbp-ec2-19-critical-failed.json").action, Action::kCreate);
  const Decision decision = chain.receive("09-fsbp-ec2-19-passed-update-same-id.json");
  ASSERT_EQ(decision.action, Action::kResolve);
  const Finding finding = sample_finding("09-fsbp-ec2-19-passed-update-same-id.json");
  const std::string comment =
      resolve_comment(finding, decision.lifecycle, decision.changes, GetParam());
  EXPECT_THAT(comment, HasSubstr("Security Hub reports this finding as resolved."));
  EXPECT_THAT(comment, HasSubstr("Why: Compliance.Status is PASSED: the check passes now."));
  EXPECT_THAT(comment, HasSubstr("- Severity.Label: CRITICAL → INFORMATIONAL\n"));
  EXPECT_THAT(comment, HasSubstr("- Compliance.Status: FAILED → PASSED\n"));
  EXPECT_THAT(comment, HasSubstr(finding.updated_at));
  EXPECT_THAT(comment, HasSubstr(console_link(finding)));
}

TEST_P(CommentTest, ResolveWhenTheFindingIsArchived) {
  Chain chain;
  ASSERT_EQ(chain.receive("02-fsbp-s3-8-high-failed.json").action, Action::kCreate);
  const Decision decision = chain.receive("10-fsbp-s3-8-archived-same-id.json");
  ASSERT_EQ(decision.action, Action::kResolve);
  const std::string comment = resolve_comment(sample_finding("10-fsbp-s3-8-archived-same-id.json"),
                                              decision.lifecycle, decision.changes, GetParam());
  EXPECT_THAT(comment, HasSubstr("Why: RecordState is ARCHIVED: the provider no longer reports"));
  EXPECT_THAT(comment, HasSubstr("- RecordState: ACTIVE → ARCHIVED\n"));
}

TEST_P(CommentTest, ResolveWhenSuppressed) {
  Chain chain;
  ASSERT_EQ(chain.receive("03-fsbp-iam-3-medium-failed.json").action, Action::kCreate);
  const Decision decision = chain.receive("11-fsbp-iam-3-suppressed-same-id.json");
  ASSERT_EQ(decision.action, Action::kResolve);
  const std::string comment =
      resolve_comment(sample_finding("11-fsbp-iam-3-suppressed-same-id.json"), decision.lifecycle,
                      decision.changes, GetParam());
  EXPECT_THAT(comment, HasSubstr("Why: Workflow.Status is SUPPRESSED: someone decided not to act"));
  EXPECT_THAT(comment, HasSubstr("- Workflow.Status: NEW → SUPPRESSED\n"));
}

TEST_P(CommentTest, ReopenSaysTheFindingIsActiveAgainAndWhy) {
  Chain chain;
  ASSERT_EQ(chain.receive("01-fsbp-ec2-19-critical-failed.json").action, Action::kCreate);
  ASSERT_EQ(chain.receive("09-fsbp-ec2-19-passed-update-same-id.json").action, Action::kResolve);
  Finding regression = sample_finding("01-fsbp-ec2-19-critical-failed.json");
  regression.updated_at = "2026-03-09T00:00:00.000Z";
  regression.updated_at_instant = *securityhub::parse_instant(regression.updated_at);
  regression.processed_at.reset();
  regression.processed_at_instant.reset();
  const Decision decision = chain.receive(regression);
  ASSERT_EQ(decision.action, Action::kReopen);
  const std::string comment = reopen_comment(regression, decision.changes, GetParam());
  EXPECT_THAT(comment, HasSubstr("Security Hub reports this finding as active again"));
  EXPECT_THAT(comment,
              HasSubstr("Now: Compliance.Status FAILED, Workflow.Status NEW, RecordState ACTIVE."));
  EXPECT_THAT(comment, HasSubstr("- Compliance.Status: PASSED → FAILED\n"));
  EXPECT_THAT(comment, HasSubstr("- Severity.Label: INFORMATIONAL → CRITICAL\n"));
  EXPECT_THAT(comment, HasSubstr(console_link(regression)));
}

TEST_P(CommentTest, UpdateListsTheSeverityChange) {
  Finding before = sample_finding("02-fsbp-s3-8-high-failed.json");
  Finding after = before;
  after.severity_label = "CRITICAL";
  after.severity_normalized = 90;
  const std::vector<FieldChange> changed = securityhub::changes(before, after);
  ASSERT_EQ(changed.size(), 1u);
  const std::string comment = update_comment(after, changed, GetParam());
  const bool markdown = GetParam() == TextFormat::kMarkdown;
  EXPECT_THAT(comment, StartsWith(markdown ? "**Security Hub updated this finding.**"
                                           : "''Security Hub updated this finding.''"));
  EXPECT_THAT(comment, HasSubstr("- Severity.Label: HIGH → CRITICAL\n"));
  EXPECT_THAT(comment, HasSubstr("Severity now: CRITICAL"));
  EXPECT_THAT(comment, HasSubstr(console_link(after)));

  EXPECT_THAT(update_comment(after, {}, GetParam()), HasSubstr("None of what this ticket follows"));
}

TEST_P(CommentTest, ChangedValuesAreNeutralizedAndBounded) {
  const Finding finding = sample_finding("02-fsbp-s3-8-high-failed.json");
  std::string many_ids;
  for (int i = 0; i < 900; ++i) {
    many_ids +=
        (i == 0 ? "" : ", ") + std::string("arn:aws:s3:::bucket-[[x]]-@admin-") + std::to_string(i);
  }
  const std::string comment = update_comment(
      finding, {FieldChange{.field = "Resources", .before = many_ids, .after = "arn:aws:s3:::b"}},
      GetParam());
  EXPECT_LE(text_length(comment), 4000u);
  EXPECT_THAT(comment, Not(HasSubstr("@admin")));
  EXPECT_THAT(comment, Not(HasSubstr("[[x")));
  EXPECT_THAT(comment, HasSubstr("… → arn:aws:s3:::b\n"));
}

INSTANTIATE_TEST_SUITE_P(Formats, CommentTest,
                         ::testing::Values(TextFormat::kMarkdown, TextFormat::kBacklog),
                         [](const ::testing::TestParamInfo<TextFormat>& format) {
                           return format_name(format.param);
                         });

}  // namespace
}  // namespace hikyaku::integrations::backlog
