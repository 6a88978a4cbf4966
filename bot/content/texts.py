"""What the bot says: every user-facing text in Vietnamese, with defaults here and optional overrides from
content/texts.yaml (so wording can change without a release), plus the roles people choose from.

content/texts.yaml, when present, looks like:

    texts:
      welcome: "..."        # any key of DEFAULTS; {placeholders} must match the default's
    office_hours:
      days: [0, 1, 2, 3, 4]  # Monday = 0
      start: "07:30"
      end: "17:00"
    examples: ["Học nghề gì dễ xin việc?", ...]

An override with unknown or missing {placeholders} is ignored (and logged), never shown half-filled.
"""

from __future__ import annotations

import logging
import string
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from bot.text import CHANNEL_LABELS  # noqa: F401 - handlers read the labels with the other texts

log = logging.getLogger(__name__)

CAMPAIGN = "Giáo dục nghề nghiệp: Thực học - Thực hành - Vững khởi nghiệp, sáng tương lai"

# Role ids are stored in users.role and used by broadcast audiences (scheduler: --role); labels are shown.
ROLES: dict[str, str] = {
    "hs_thcs": "Học sinh THCS",
    "hs_thpt": "Học sinh THPT",
    "phu_huynh": "Phụ huynh",
    "nguoi_lao_dong": "Người lao động",
    "bo_doi": "Bộ đội xuất ngũ / hoàn thành nghĩa vụ",
    "doanh_nghiep": "Doanh nghiệp",
}
STUDENT_ROLES = {"hs_thcs", "hs_thpt"}

# How channel ids read to a person (display only: handlers never branch on the channel).

DEFAULTS: dict[str, str] = {
    # onboarding
    "welcome": ("Xin chào! Mình là trợ lý tư vấn chọn nghề, chọn trường của Hải Phòng.\n"
                "«{campaign}»\n\n"
                "Mình trả lời câu hỏi về học nghề, ngành nghề, trường đào tạo và gửi tin tuyển sinh, sự kiện "
                "cho bạn nếu bạn đăng ký."),
    "storage_notice": ("🔒 Bot lưu vai trò, câu hỏi và chủ đề bạn đăng ký để trả lời và gửi tin cho bạn; "
                       "xem hoặc xóa bất cứ lúc nào bằng /xoadulieu."),
    "who_are_you": "Bạn là ai?",
    "welcome_back": "Chào mừng bạn quay lại! Bạn đang là: {role}.",
    "role_saved": "Cảm ơn bạn! Mình đã ghi nhận: {role}.",
    "ask_age": "Bạn bao nhiêu tuổi?",
    "age_under_16": ("Vì bạn dưới 16 tuổi, trước khi đăng ký nhận tin, bạn hãy hỏi ý kiến và được cha mẹ "
                     "(hoặc người giám hộ) đồng ý nhé. Bạn vẫn có thể hỏi đáp bình thường."),
    "age_ok": "Cảm ơn bạn!",
    "age_not_understood": "Bạn hãy bấm một trong hai nút bên dưới nhé.",
    "menu": "Bạn muốn làm gì? Chọn bên dưới hoặc gõ câu hỏi của bạn.",
    "change_role": "Bạn hãy chọn lại vai trò của mình:",
    # questions
    "faq_intro": "Bạn cứ gõ câu hỏi của mình, ngắn gọn là được. Ví dụ:\n{examples}",
    "no_answer": "Xin lỗi, mình chưa có câu trả lời chắc chắn cho câu hỏi này.",
    "no_answer_suggest": "Có thể bạn muốn hỏi một trong các nội dung sau:",
    "no_answer_counsellor": "Bạn cũng có thể gửi câu hỏi cho tư vấn viên.",
    "no_answer_quiz": "Nếu bạn chưa biết nên học nghề gì, hãy thử bài trắc nghiệm chọn nghề (nút bên dưới).",
    "empty_question": "Bạn hãy gõ câu hỏi bằng chữ, ví dụ: «Học nghề gì dễ xin việc?»",
    "no_text": "Hiện mình chỉ đọc được tin nhắn dạng chữ. Bạn hãy gõ câu hỏi nhé.",
    "too_long": "(Câu hỏi khá dài nên mình chỉ đọc phần đầu; bạn có thể hỏi ngắn gọn hơn.)",
    "greeting": "Xin chào! Bạn cần tìm hiểu về nghề, trường hay tuyển sinh? Cứ gõ câu hỏi nhé.",
    "thanks": "Không có gì ạ! Bạn cần hỏi thêm gì cứ nhắn cho mình nhé.",
    "source": "Nguồn: {source} (cập nhật {reviewed})",
    "feedback_up": "Cảm ơn bạn đã góp ý! 😊",
    "feedback_down": "Cảm ơn bạn đã góp ý, mình sẽ cải thiện câu trả lời này.",
    "feedback_down_offer": "Bạn có muốn hỏi trực tiếp tư vấn viên không?",
    "entry_gone": "Nội dung này không còn nữa. Bạn hãy gõ lại câu hỏi hoặc chọn trong menu nhé.",
    # trades and schools
    "groups": "Chọn nhóm nghề bạn quan tâm:",
    "no_trades": "Danh sách nghề đang được cập nhật. Bạn có thể gõ câu hỏi hoặc gặp tư vấn viên.",
    "trades_in_group": "Nhóm {group}: chọn một nghề để xem chi tiết.",
    "trade_schools": "Các trường đào tạo {trade} (theo nguồn công khai):",
    "trade_no_school": ("Mình chưa có thông tin (theo nguồn công khai) về trường đào tạo nghề này ở Hải "
                        "Phòng. Bạn hãy hỏi tư vấn viên (gõ /tuvan) để được hướng dẫn."),
    "trade_no_schools": ("Danh sách trường đào tạo {trade} đang được cập nhật; bạn có thể hỏi tư vấn viên."),
    "schools_where": "Bạn muốn tìm trường ở đâu?",
    "schools_list": "Trường ở {province} (trang {page}/{pages}):",
    "no_schools": "Danh sách trường đang được cập nhật. Bạn có thể hỏi tư vấn viên.",
    "school_page": "{name}\nĐịa bàn: {province}\nTrình độ đào tạo: {levels}",
    "school_trades": "Nghề đào tạo (theo nguồn công khai):",
    # subscriptions
    "topics_choose": "Chọn chủ đề bạn muốn nhận tin (✅ là đang nhận):",
    "subscribed": "✅ Đã đăng ký nhận «{topic}». Hủy bất cứ lúc nào: /huy {topic_id}",
    "already_subscribed": "Bạn đã đăng ký «{topic}» rồi. Xem các chủ đề: /chude",
    "subscribed_all": "✅ Đã đăng ký nhận tất cả các chủ đề. Hủy bất cứ lúc nào: /huy tatca",
    "unknown_topic": "Mình không tìm thấy chủ đề «{text}». Các chủ đề hiện có:\n{topics}",
    "unsubscribed": "Đã hủy nhận «{topics}». Bạn sẽ không nhận tin chủ đề này nữa.",
    "unsubscribed_all": "Đã hủy nhận tất cả chủ đề ({topics}). Bạn sẽ không nhận tin từ bot nữa.",
    "not_subscribed": "Bạn chưa đăng ký chủ đề «{topic}».",
    "nothing_to_cancel": "Bạn chưa đăng ký nhận tin chủ đề nào.",
    "unsubscribe_choose": "Chọn chủ đề muốn hủy:",
    "cancel_all_hint": "Hủy tất cả: /huy tatca",
    "my_topics": ("Bạn đang nhận tin các chủ đề:\n{topics}\n\nHủy một chủ đề: /huy tên_chủ_đề; "
                  "hủy hết: /huy tatca"),
    "my_topics_none": "Bạn chưa đăng ký nhận tin chủ đề nào. Gõ /dangky để chọn chủ đề.",
    "parent_needed": ("Vì bạn dưới 16 tuổi, bạn cần được cha mẹ (hoặc người giám hộ) đồng ý trước khi đăng "
                      "ký nhận tin. Cha mẹ bạn đã đồng ý chưa?"),
    "parent_later": "Không sao! Khi cha mẹ đồng ý, bạn gõ /dangky để đăng ký nhé.",
    "age_before_subscribe": "Trước khi đăng ký nhận tin, cho mình hỏi: bạn bao nhiêu tuổi?",
    # handoff
    "handoff_ask": "Bạn hãy gõ câu hỏi muốn gửi tư vấn viên (gõ /huybo để thôi):",
    "handoff_sent": "📨 Câu hỏi của bạn đã được chuyển tới tư vấn viên. {when}",
    "handoff_when_open": ("Tư vấn viên đang trong giờ làm việc và sẽ trả lời bạn ngay trong cuộc trò chuyện "
                          "này."),
    "handoff_when_closed": ("Bây giờ là ngoài giờ làm việc ({hours}); tư vấn viên sẽ trả lời bạn ngay trong "
                            "cuộc trò chuyện này khi vào giờ làm việc."),
    "handoff_open_note": ("Trong lúc chờ, tin nhắn bạn gửi sẽ được chuyển tiếp cho tư vấn viên. "
                          "Gõ /huybo để kết thúc và quay lại hỏi bot."),
    "handoff_forwarded": "Đã chuyển thêm tin nhắn của bạn cho tư vấn viên.",
    "handoff_unavailable": ("Xin lỗi, hiện chưa có tư vấn viên trực tuyến trên hệ thống này. Bạn có thể gõ "
                            "câu hỏi để bot trả lời, hoặc liên hệ trực tiếp trường bạn quan tâm."),
    "handoff_failed": ("Xin lỗi, mình chưa chuyển được câu hỏi tới tư vấn viên. Bạn vui lòng thử lại sau ít "
                       "phút."),
    "handoff_reply": "💬 Tư vấn viên trả lời:\n{text}",
    "handoff_closed_by_user": "Đã kết thúc trao đổi với tư vấn viên. Bạn có thể tiếp tục hỏi bot.",
    "handoff_closed_by_staff": ("Tư vấn viên đã kết thúc cuộc trao đổi. Cảm ơn bạn! Bạn có thể tiếp tục hỏi "
                                "bot, hoặc gõ /tuvan nếu cần hỏi thêm."),
    "handoff_already_open": "Bạn đang có một câu hỏi chờ tư vấn viên; tin nhắn mới sẽ được chuyển tiếp.",
    # staff chat (read by staff)
    "staff_card": ("📩 Yêu cầu tư vấn #{case}\nNgười hỏi: {who}\nCâu hỏi: {question}\n{context}\n"
                   "↩️ Trả lời (reply) tin nhắn này để gửi câu trả lời cho người hỏi; /dong {case} để đóng."),
    "staff_context": "Hỏi gần đây:\n{lines}",
    "staff_no_context": "(Chưa có câu hỏi nào trước đó.)",
    "staff_followup": "💬 #{case} {who} nhắn thêm:\n{text}",
    "staff_relayed": "✅ Đã chuyển câu trả lời cho người hỏi (#{case}).",
    "staff_relay_failed": "⚠️ Không gửi được câu trả lời cho người hỏi (#{case}); có thể họ đã chặn bot.",
    "staff_case_unknown": ("Không tìm thấy yêu cầu tư vấn ứng với tin nhắn này (có thể người hỏi đã xóa dữ "
                           "liệu). Hãy trả lời (reply) đúng tin nhắn có số yêu cầu."),
    "staff_case_closed_note": "(Yêu cầu #{case} đã đóng trước đó; câu trả lời vẫn được chuyển.)",
    "staff_user_closed": "🔒 Người hỏi đã kết thúc yêu cầu #{case}.",
    "staff_user_deleted": "🔒 Yêu cầu #{case} đã đóng: người hỏi đã xóa dữ liệu của mình.",
    "staff_closed": "🔒 Đã đóng yêu cầu #{case}.",
    "staff_console_replied": "✅ #{case} đã được {who} trả lời trên bảng điều khiển:\n{text}",
    "staff_console_closed": "🔒 {who} đã đóng yêu cầu #{case} trên bảng điều khiển.",
    "staff_close_usage": "Cách dùng: /dong số_yêu_cầu, hoặc trả lời (reply) tin nhắn của yêu cầu bằng /dong.",
    "staff_close_missing": "Không có yêu cầu #{case} đang mở.",
    # privacy
    "privacy_show": ("Thông tin bot đang lưu về bạn:\n{lines}\n\nBạn có muốn xóa toàn bộ không? Sau khi xóa, "
                     "bot sẽ không gửi tin cho bạn nữa; câu hỏi đã gửi được giữ lại nhưng không còn gắn với "
                     "bạn."),
    "privacy_deleted": "🗑️ Đã xóa toàn bộ dữ liệu của bạn. Nếu nhắn tiếp, bot sẽ coi bạn là người mới.",
    "privacy_kept": "Đã giữ nguyên dữ liệu, không có gì bị xóa.",
    "privacy_expired": "Yêu cầu xóa này đã hết hạn. Gõ /xoadulieu để xem lại và xác nhận.",
    # interest quiz (/tracnghiem)
    "quiz_intro": ("🧭 Trắc nghiệm chọn nghề: {count} câu ngắn về những việc bạn thích hay không thích. "
                   "Không có câu đúng hay sai, bạn cứ chọn theo ý mình. Gõ /huybo để dừng bất cứ lúc nào."),
    "quiz_question": "Câu {n}/{total}: {text}\n👉 Bạn có thích việc này không?",
    "quiz_resume": "Bạn đang làm dở bài trắc nghiệm, mình hỏi tiếp nhé.",
    "quiz_not_answer": ("Bạn đang làm bài trắc nghiệm: hãy chọn {choices}, gõ «câu trước» để quay lại, "
                        "hoặc /huybo để dừng."),
    "quiz_first": "Đây là câu đầu tiên rồi.",
    "quiz_stale": "Câu hỏi đó đã qua rồi, mình hỏi tiếp câu hiện tại nhé.",
    "quiz_not_running": "Bạn không ở trong bài trắc nghiệm nào. Gõ /tracnghiem để bắt đầu.",
    "quiz_none": ("Bài trắc nghiệm chọn nghề đang được cập nhật. Bạn có thể xem các nghề trong «Tìm nghề» "
                  "hoặc hỏi tư vấn viên."),
    "quiz_result_head": "🧭 Kết quả trắc nghiệm của bạn\n\nNhóm sở thích nổi bật nhất:",
    "quiz_type_line": "• {name} ({code}): {score}/{max}. {explain}",
    "quiz_flat": ("Điểm các nhóm khá gần nhau nên chưa thấy rõ sở thích nổi bật; các nghề dưới đây chỉ để "
                  "bạn tham khảo."),
    "quiz_trades_head": "Một số nghề hợp với sở thích đó (bấm để xem nghề và trường đào tạo):",
    "quiz_trade_line": "• {trade}: {why}",
    "quiz_why": "hợp với nhóm {types} của bạn.",
    "quiz_why_other": "để bạn tham khảo thêm.",
    "quiz_disclaimer": ("⚠️ Kết quả chỉ là gợi ý dựa trên sở thích, không phải kết luận. Bạn nên trao đổi "
                        "thêm với gia đình, thầy cô hoặc tư vấn viên, và cân nhắc năng lực, sức khỏe, nhu "
                        "cầu việc làm trước khi chọn nghề."),
    "quiz_result_again": "Xem lại kết quả này bất cứ lúc nào: gõ «xem lại kết quả» hoặc /ketqua.",
    "quiz_result_when": "(Kết quả lần làm bài ngày {date})",
    "quiz_no_result": "Bạn chưa có kết quả trắc nghiệm nào được lưu. Gõ /tracnghiem để làm bài.",
    "quiz_cancelled": "Đã dừng bài trắc nghiệm. Muốn làm lại: /tracnghiem.",
    # registration for counselling (/dangkytuvan)
    "lead_intro": ("📝 Đăng ký tư vấn: bạn để lại vài thông tin, cán bộ tư vấn sẽ gọi lại cho bạn. Thông tin "
                   "chỉ được lưu khi bạn xác nhận ở bước cuối; gõ /huybo để dừng bất cứ lúc nào."),
    "lead_prefilled": "Nghề/trường bạn quan tâm: {what}.",
    "lead_ask_name": "Họ và tên của người đăng ký là gì? (ví dụ: Nguyễn Văn An)",
    "lead_bad_name": ("Xin lỗi, mình chưa ghi được họ tên này. Bạn hãy gõ họ và tên bằng chữ, không có chữ "
                      "số, từ 2 đến {max} ký tự (ví dụ: Nguyễn Văn An). Muốn dừng đăng ký: /huybo."),
    "lead_ask_phone": "Số điện thoại di động để cán bộ tư vấn gọi cho bạn? (ví dụ: 0912 345 678)",
    "lead_bad_phone": ("Số điện thoại này chưa đúng. Bạn hãy gõ số di động Việt Nam gồm 10 chữ số, bắt đầu "
                       "bằng 03, 05, 07, 08 hoặc 09 (ví dụ: 0912 345 678 hoặc +84 912 345 678)."),
    "lead_ask_who": "Ai là người đăng ký?",
    "lead_ask_birth_student": "Bạn sinh năm nào, hoặc đang học lớp mấy? (ví dụ: 2010 hoặc lớp 9)",
    "lead_ask_birth_parent": "Con của anh/chị sinh năm nào, hoặc đang học lớp mấy? (ví dụ: 2010 hoặc lớp 9)",
    "lead_bad_birth": ("Mình chưa hiểu năm sinh hoặc lớp này. Bạn hãy gõ năm sinh đủ 4 chữ số (ví dụ: 2010) "
                       "hoặc lớp từ 6 đến 12 (ví dụ: lớp 9)."),
    "lead_future_birth": ("Năm {year} chưa tới. Bạn kiểm tra lại và gõ năm sinh (ví dụ: 2010) hoặc lớp đang "
                          "học nhé."),
    "lead_absurd_birth": ("Năm sinh {year} có vẻ chưa đúng (người đăng ký học thường sinh từ {low} đến "
                          "{high}). Bạn kiểm tra lại giúp mình nhé."),
    "lead_parent_needed": ("Vì bạn dưới 16 tuổi, bạn cần được cha mẹ (hoặc người giám hộ) đồng ý trước khi "
                           "gửi họ tên và số điện thoại cho cán bộ tư vấn. Cha mẹ bạn đã đồng ý chưa?"),
    "lead_parent_later": ("Không sao! Thông tin bạn vừa nhập không được lưu. Khi cha mẹ đồng ý, bạn gõ "
                          "/dangkytuvan nhé, hoặc cha mẹ có thể đăng ký giúp bạn."),
    "lead_ask_trade": "Bạn quan tâm nghề nào? Chọn bên dưới hoặc gõ tên nghề.",
    "lead_bad_trade": "Bạn gõ tên nghề ngắn gọn (ví dụ: hàn, logistics, kế toán) hoặc chọn bên dưới nhé.",
    "lead_ask_school": "Bạn có muốn chọn trường không? (không bắt buộc)",
    "lead_ask_time": "Bạn muốn được gọi vào lúc nào?",
    "lead_pick": "Bạn hãy bấm một nút bên dưới nhé.",
    "lead_summary": ("Bạn kiểm tra lại thông tin đăng ký:\n{lines}\n\n{consent}\n\nNếu đúng, bấm «Xác nhận "
                     "gửi»; cần sửa, bấm nút «Sửa» tương ứng."),
    "lead_consent": ("🔒 Khi xác nhận, bạn đồng ý để {who_sees} xem các thông tin trên để gọi điện tư vấn. "
                     "Thông tin được lưu tối đa {months} tháng, sau đó họ tên và số điện thoại được xóa; bạn "
                     "có thể xóa sớm hơn bằng /xoadulieu."),
    "lead_sees_city": "cán bộ tư vấn của thành phố (nhóm tư vấn của chatbot)",
    "lead_sees_school": "cán bộ tư vấn của thành phố (nhóm tư vấn của chatbot) và của {school}",
    "lead_not_confirm": "Bạn bấm «Xác nhận gửi» để gửi, nút «Sửa» để sửa, hoặc gõ /huybo để hủy nhé.",
    "lead_done": ("✅ Đã ghi nhận đăng ký tư vấn của bạn (mã số #{id}).\nTiếp theo: cán bộ tư vấn sẽ gọi cho "
                  "bạn qua số {phone} ({time}). Trong lúc chờ, bạn có thể xem thông tin nghề và trường trong "
                  "menu, hoặc nhắn /tuvan nếu cần hỏi ngay. Muốn xóa đăng ký: /xoadulieu."),
    "lead_cancelled": "Đã hủy đăng ký; thông tin bạn vừa nhập không được lưu.",
    "lead_not_running": "Phiếu đăng ký này đã kết thúc. Gõ /dangkytuvan để đăng ký lại nhé.",
    "staff_lead": "📝 Đăng ký tư vấn #{id} ({channel}, {at})\n{lines}\nXuất danh sách: chonnghe leads export",
    # help, cancel, unknown, staff
    "help": ("Mình có thể:\n"
             "• Trả lời câu hỏi về học nghề, tuyển sinh, chính sách: cứ gõ câu hỏi.\n"
             "• /menu: các chức năng chính (tìm nghề, tìm trường...)\n"
             "• /dangky [chủ đề]: đăng ký nhận tin ({topics})\n"
             "• /huy [chủ đề|tatca]: hủy nhận tin\n"
             "• /chude: xem các chủ đề đang nhận\n"
             "• /tuvan: gửi câu hỏi cho tư vấn viên\n"
             "• /tracnghiem: trắc nghiệm sở thích chọn nghề; /ketqua: xem lại kết quả\n"
             "• /dangkytuvan: để lại số điện thoại để được gọi tư vấn\n"
             "• /vaitro: đổi vai trò (học sinh, phụ huynh...)\n"
             "• /xoadulieu: xem và xóa dữ liệu bot lưu về bạn\n"
             "• /huybo: thoát thao tác đang làm\n"
             "• /trogiup: xem hướng dẫn này"),
    "help_staff": "\nDành cho cán bộ: /thongke, /guitin, /lichgui, /dong số_yêu_cầu.",
    "cancelled": "Đã hủy thao tác. Bạn có thể gõ câu hỏi hoặc chọn trong menu.",
    "nothing_running": "Bạn không ở trong thao tác nào. Bạn có thể gõ câu hỏi hoặc chọn trong menu.",
    "unknown_command": "Mình chưa biết lệnh /{name}. Gõ /trogiup để xem các lệnh.",
    "stale_button": "Nút này đã cũ hoặc không còn dùng được. Bạn chọn lại trong menu nhé.",
    "staff_only": "Xin lỗi, lệnh này chỉ dành cho cán bộ phụ trách.",
    "error": "Xin lỗi, hệ thống đang gặp sự cố. Bạn vui lòng thử lại sau ít phút nhé.",
}

BUTTONS: dict[str, str] = {
    "menu_faq": "❓ Hỏi đáp",
    "menu_trades": "🛠️ Tìm nghề",
    "menu_schools": "🏫 Tìm trường",
    "menu_news": "🔔 Nhận tin",
    "menu_counsellor": "🧑‍🏫 Gặp tư vấn viên",
    "menu": "☰ Menu",
    "helpful": "Hữu ích 👍",
    "wrong": "Chưa đúng 👎",
    "counsellor": "🧑‍🏫 Gặp tư vấn viên",
    "handoff_done": "✅ Đã xong, cảm ơn",
    "subscribe": "🔔 Đăng ký nhận tin",
    "schools_of_trade": "🏫 Trường đào tạo",
    "back_groups": "« Nhóm nghề",
    "back_provinces": "« Chọn địa bàn",
    "more": "Xem tiếp »",
    "prev": "« Trước",
    "website": "🌐 Trang web của trường",
    "all_topics": "Tất cả chủ đề",
    "cancel_all": "Hủy tất cả",
    "unsubscribe": "❌ Hủy nhận tin",
    "under_16": "Dưới 16 tuổi",
    "over_16": "Từ 16 tuổi trở lên",
    "parent_yes": "Cha mẹ đã đồng ý",
    "parent_later": "Để sau",
    "delete_yes": "🗑️ Xóa hết dữ liệu",
    "delete_no": "Không xóa",
    "change_role": "Đổi vai trò",
    "menu_quiz": "🧭 Trắc nghiệm chọn nghề",
    "quiz_back": "⬅️ Câu trước",
    "quiz_restart": "🔁 Làm lại từ đầu",
    "quiz_again": "🔁 Làm lại trắc nghiệm",
    "quiz_result": "📊 Xem lại kết quả",
    "lead": "📝 Đăng ký tư vấn",
    "lead_student": "🎓 Học sinh (đăng ký cho mình)",
    "lead_parent": "👪 Phụ huynh (đăng ký cho con)",
    "lead_no_school": "Chưa chọn trường",
    "lead_no_trade": "Chưa biết, cần tư vấn",
    "lead_confirm": "✅ Xác nhận gửi",
    "lead_drop": "❌ Hủy",
    "lead_edit_name": "✏️ Sửa họ tên",
    "lead_edit_phone": "✏️ Sửa số điện thoại",
    "lead_edit_who": "✏️ Sửa người đăng ký",
    "lead_edit_birth": "✏️ Sửa năm sinh/lớp",
    "lead_edit_trade": "✏️ Sửa nghề",
    "lead_edit_school": "✏️ Sửa trường",
    "lead_edit_time": "✏️ Sửa giờ gọi",
}

DEFAULT_EXAMPLES = (
    "Học nghề gì dễ xin việc?",
    "Học xong lớp 9 có học cao đẳng được không?",
    "Học nghề có được miễn học phí không?",
)


@dataclass(frozen=True)
class OfficeHours:
    """When counsellors read the staff chat (to tell a user when someone will see their question)."""

    days: frozenset[int] = frozenset(range(5))  # Monday..Friday
    start: time = time(7, 30)
    end: time = time(17, 0)

    def is_open(self, local: datetime) -> bool:
        """Whether counsellors are at work at `local` (city time)."""
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def describe(self) -> str:
        """The hours as users read them, e.g. "07:30-17:00, thứ Hai - thứ Sáu"."""
        days = "thứ Hai - thứ Sáu" if self.days == frozenset(range(5)) else (
            ", ".join(_DAY_NAMES[d] for d in sorted(self.days)))
        return f"{self.start:%H:%M}-{self.end:%H:%M}, {days}"


_DAY_NAMES = ["thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật"]


def _fields(template: str) -> set[str] | None:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}
    except ValueError:  # unbalanced braces: matches no default, so such an override is ignored
        return None


class Texts:
    """The catalogue in use: DEFAULTS with valid overrides from content/texts.yaml."""

    def __init__(self, raw: dict[str, Any] | None = None):
        raw = raw if isinstance(raw, dict) else {}
        self.texts = dict(DEFAULTS)
        self.buttons = dict(BUTTONS)
        for table, defaults, key in ((self.texts, DEFAULTS, "texts"), (self.buttons, BUTTONS, "buttons")):
            overrides = raw.get(key) or {}
            if not isinstance(overrides, dict):
                log.warning("texts.yaml: '%s' must be a mapping; ignored", key)
                continue
            for name, value in overrides.items():
                if name not in defaults:
                    log.warning("texts.yaml: unknown %s key %r ignored", key, name)
                elif not isinstance(value, str) or not value.strip():
                    log.warning("texts.yaml: %s.%s must be non-empty text; default kept", key, name)
                elif _fields(value) != _fields(defaults[name]):
                    log.warning("texts.yaml: %s.%s must use exactly the placeholders %s; default kept",
                                key, name, sorted(_fields(defaults[name])) or "(none)")
                else:
                    table[name] = value.strip()
        examples = raw.get("examples")
        self.examples = tuple(e.strip() for e in examples if isinstance(e, str) and e.strip()) \
            if isinstance(examples, list) else ()
        self.examples = self.examples or DEFAULT_EXAMPLES
        self.office = _office_hours(raw.get("office_hours"))

    def __call__(self, key: str, **values: Any) -> str:
        """The text `key` with its placeholders filled from `values` (and {campaign})."""
        template = self.texts[key]
        values.setdefault("campaign", CAMPAIGN)
        return template.format(**values) if _fields(template) else template

    def button(self, key: str) -> str:
        """The label of button `key`."""
        return self.buttons[key]


def _office_hours(raw: Any) -> OfficeHours:
    if not isinstance(raw, dict):
        return OfficeHours()
    try:
        days = frozenset(int(d) for d in raw.get("days", range(5)) if 0 <= int(d) <= 6)
        start = time.fromisoformat(str(raw.get("start", "07:30")))
        end = time.fromisoformat(str(raw.get("end", "17:00")))
    except (TypeError, ValueError):
        log.warning("texts.yaml: office_hours must be {days: [0-6], start: HH:MM, end: HH:MM}; default kept")
        return OfficeHours()
    return OfficeHours(days or frozenset(range(5)), start, end)


def texts_for(base: Any) -> Texts:
    """The catalogue of a content snapshot: the one its loader built (bot.content.ContentBase.texts), or one
    built from its raw texts.yaml for a stand-in base without it."""
    found = getattr(base, "texts", None)
    if isinstance(found, Texts):
        return found
    return Texts((getattr(base, "raw", {}) or {}).get("texts.yaml"))
