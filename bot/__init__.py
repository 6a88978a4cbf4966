"""chonnghe: a career-guidance chatbot for vocational education in Hải Phòng."""
