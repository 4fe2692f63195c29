#pragma once
// The built-in Backlog ticket for a Security Hub finding: the issue's summary and description,
// and the comments that follow the finding through its life (securityhub/ticket_decision.h).
//
//   const TextFormat format = text_format_of(project.text_formatting_rule);
//   const TicketText text = ticket_text(finding, format);       // Add Issue: summary, description
//   ... decision.action == Action::kResolve:
//   resolve_comment(finding, decision.lifecycle, decision.changes, format);
//
// Summary: "[CRITICAL] EC2.19 Security groups should not allow ..." (severity label, the security
// control id when there is one, the title), on one line, at most kSummaryLimit characters, cut on
// a character boundary with "…". Backlog shows summaries as plain text, so it carries the title
// as written apart from line breaks and control characters, which become spaces.
//
// Description, in the project's text formatting (Markdown or Backlog notation): the title as a
// heading; severity (label, the provider's original, the normalized score), control id and
// compliance status when present, product and company, account, region; the resources (type and
// id, the first kMaxListedResources, then "and N more"); the finding's description; the
// remediation text and link; links to the finding in the Security Hub console and to the
// provider's page (SourceUrl) when there is one; created, updated, first and last observed; the
// finding's Id and ProductArn; and the marker. At most kDescriptionLimit characters: the
// finding's own description gives way first, with a line saying it was cut and that the console
// has it whole. Characters are counted as UTF-16 code units, the length Backlog's Java-based
// service most likely counts; that is never less than the number of code points, so the limit
// holds whichever way Backlog counts.
//
// The marker, finding_marker(): "hikyakufinding" followed by the 32 hex digits of the finding
// key written as the letters a-p (0-9 -> a-j, a-f -> k-p). Backlog's keyword search is a
// full-text search whose tokenizer is not documented, and Japanese-aware analyzers (kuromoji and
// its kin) and word-delimiter filters split a token wherever the character class changes: at a
// hyphen or underscore, and between a letter and a digit. A run of lower-case ASCII letters is
// one token for all of them (and an n-gram index matches it as a substring anyway), and is not a
// word ordinary text contains. The mapping is reversible, so the marker names the ledger key.
//
// Finding text is untrusted: any account that can import findings writes titles, descriptions,
// resource ids and URLs. Markup in it must not take effect, and the text must still read as
// written. How, per format:
//   - Markdown has an escape character: an ASCII punctuation character preceded by a backslash is
//     literal (CommonMark; Backlog does not name its renderer, and the common ones, marked and
//     markdown-it among them, follow that rule). Escaped are the
//     characters that open or close inline markup anywhere (\ ` * _ [ ] < # | ~, and the & of
//     a character reference such as &lt;), and at the start of a line the block markers
//     (> - + = and "1." / "1)"). Leading spaces and tabs become no-break spaces so that an
//     indented line stays indented instead of turning into a code block, and each line ends in a
//     hard line break so the finding's line breaks show. A one-line value (a resource's type,
//     a title) gets the line-start treatment too, since it may begin a list item or a heading.
//   - Backlog notation has no escape character, and a {code} block would stop its text from
//     wrapping and still end at the first "{/code}" it holds. Instead U+2060 WORD JOINER, which
//     is invisible and adds no line-break opportunity, is put inside every markup sequence:
//     between the two characters of '' %% [[ ]], after a { that a letter or / follows ({code},
//     {/quote}), after the & or # of a macro (&br;, &color(, #image(, #contents), and before a
//     line's first visible character when that is one of * - + > | (headings, lists, quotes,
//     tables). Not U+200D ZERO WIDTH JOINER: it joins emoji and Indic clusters, so next to an emoji
//     it can change what is drawn.
//   - In both formats "@" is followed by a word joiner: Backlog notifies the users that a
//     description or comment mentions, and a finding must not page anybody.
//   - In both, C0/C1 control characters (other than tab and line feed) and the bidirectional
//     embedding/override/isolate controls, which can make an ARN or a URL display as something
//     else, become U+FFFD; CR LF, CR, NEL, U+2028 and U+2029 become line breaks.
//   - URLs are linked only when they are http or https, with every character that could end
//     the link or start markup ("'<>[]{}()|\^` space ; @, a % not starting %XX, anything
//     non-ASCII) percent-encoded; any other URL is shown as escaped text.
//
// Comments: an update lists every FieldChange as "field: before → after"; a resolve says why
// (LifecycleState::explanation()) and what changed; a reopen says the finding is active again,
// its compliance, workflow and record state, and what changed. Each ends with the console link
// and stays within kDescriptionLimit.
//
// Thread safety: pure functions.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "integrations/securityhub/finding.h"
#include "integrations/securityhub/lifecycle.h"

namespace hikyaku::integrations::backlog {

enum class TextFormat { kMarkdown, kBacklog };

// A project's textFormattingRule ("markdown" -> kMarkdown; "backlog" or anything else -> kBacklog).
TextFormat text_format_of(std::string_view text_formatting_rule);

inline constexpr std::string_view kFindingMarkerPrefix = "hikyakufinding";
// "hikyakufinding" + 32 letters a-p; see "The marker" above.
std::string finding_marker(const securityhub::FindingKey& key);

inline constexpr size_t kSummaryLimit = 255;        // characters (UTF-16 code units)
inline constexpr size_t kDescriptionLimit = 30000;  // characters (UTF-16 code units)
inline constexpr size_t kMaxListedResources = 20;

struct TicketText {
  std::string summary;
  std::string description;
};

// The issue for a finding.
TicketText ticket_text(const securityhub::Finding& finding, TextFormat format);

// Comment texts for the lifecycle actions (securityhub::Decision: changes, lifecycle).
std::string update_comment(const securityhub::Finding& finding,
                           const std::vector<securityhub::FieldChange>& changes, TextFormat format);
std::string resolve_comment(const securityhub::Finding& finding,
                            const securityhub::LifecycleState& lifecycle,
                            const std::vector<securityhub::FieldChange>& changes,
                            TextFormat format);
std::string reopen_comment(const securityhub::Finding& finding,
                           const std::vector<securityhub::FieldChange>& changes, TextFormat format);

// The finding in the Security Hub console of its partition (aws, aws-cn, aws-us-gov; taken from
// the ProductArn, else a resource, else the region's prefix) and region, found by its Id.
std::string console_link(const securityhub::Finding& finding);

// `text` made literal for `format` as described above, line breaks kept. For callers that put
// other untrusted text into a description or comment.
std::string neutralized(std::string_view text, TextFormat format);

// Length as Backlog most likely counts it: UTF-16 code units.
size_t text_length(std::string_view utf8);

}  // namespace hikyaku::integrations::backlog
