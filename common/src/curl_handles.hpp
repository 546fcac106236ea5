#pragma once

// RAII for libcurl handles. Private to common/: no public header includes <curl/curl.h>.

#include <memory>
#include <new>
#include <string>

#include <curl/curl.h>

namespace factorial {

struct CurlEasyDeleter {
  void operator()(CURL* h) const noexcept { curl_easy_cleanup(h); }
};
struct CurlMultiDeleter {
  void operator()(CURLM* h) const noexcept { curl_multi_cleanup(h); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlMulti = std::unique_ptr<CURLM, CurlMultiDeleter>;
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;

// curl_slist_append returns the new head, or null (leaving the old list intact) on failure.
inline void Append(CurlSlist& list, const std::string& line) {
  curl_slist* head = curl_slist_append(list.get(), line.c_str());
  if (head == nullptr) throw std::bad_alloc();
  (void)list.release();
  list.reset(head);
}

}  // namespace factorial
