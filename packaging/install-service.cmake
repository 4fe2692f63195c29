# Runs at install time (packaging/CMakeLists.txt), when CMAKE_INSTALL_PREFIX is the prefix being
# installed to: writes the systemd unit and the config it serves with that prefix's paths, and the
# unit's environment file.
#
# The config is examples/securityhub-backlog.yaml with a header of its own instead of the
# example's `make run` notes, and the store in the service's state directory (the unit's
# StateDirectory, /var/lib/hikyaku, whatever the prefix). An existing config or environment file
# is kept, as dpkg keeps a changed conffile: it is the operator's.

set(prefix "${CMAKE_INSTALL_PREFIX}")
# GNUInstallDirs' rule for system configuration: /etc for the /usr prefix, <prefix>/etc otherwise.
if(prefix STREQUAL "/usr" OR prefix STREQUAL "/")
  set(sysconfdir "/etc")
else()
  set(sysconfdir "${prefix}/etc")
endif()
set(HIKYAKU_BINARY "${prefix}/${HIKYAKU_BINDIR}/hikyaku")
set(HIKYAKU_CONFIG "${sysconfdir}/hikyaku/hikyaku.yaml")
set(HIKYAKU_ENVIRONMENT_FILE "${sysconfdir}/default/hikyaku")
set(HIKYAKU_DOCDIR "${prefix}/${HIKYAKU_DOCDIR}")
set(HIKYAKU_EXAMPLES "${prefix}/${HIKYAKU_DATADIR}/hikyaku/examples")
set(state_directory "/var/lib/hikyaku")

configure_file("${HIKYAKU_PACKAGING_DIR}/hikyaku.service.in"
  "${HIKYAKU_GENERATED_DIR}/hikyaku.service" @ONLY)
file(INSTALL "${HIKYAKU_GENERATED_DIR}/hikyaku.service"
  DESTINATION "${prefix}/lib/systemd/system")

file(READ "${HIKYAKU_EXAMPLE}" config)
string(REGEX REPLACE "^(#[^\n]*\n)+" "" config "${config}")
set(store_line "Sqlite: { Path: var/hikyaku.db }")
string(FIND "${config}" "${store_line}" store_at)
if(store_at EQUAL -1)
  message(FATAL_ERROR "${HIKYAKU_EXAMPLE} no longer says \"${store_line}\": "
    "update packaging/install-service.cmake to put the service's store in ${state_directory}")
endif()
string(REPLACE "${store_line}" "Sqlite: { Path: ${state_directory}/hikyaku.db }" config "${config}")
set(header "\
# The config hikyaku.service serves: Security Hub findings -> Backlog issues, one issue per
# finding, a comment when it changes in a way a person cares about, closed when the finding is
# resolved (PASSED, ARCHIVED, RESOLVED, SUPPRESSED), reopened if it comes back. It is the example
# securityhub-backlog.yaml with the store in the service's state directory, ${state_directory}.
#   examples: ${HIKYAKU_EXAMPLES}
#   docs:     ${HIKYAKU_DOCDIR} (docs/backlog.md explains each Backlog setting)
#
# BACKLOG_ENDPOINT, BACKLOG_API_KEY, BACKLOG_PROJECT and BACKLOG_DRY_RUN come from the service's
# environment file, ${HIKYAKU_ENVIRONMENT_FILE}. After editing this file:
#   systemctl reload hikyaku
# A config that does not validate is refused, with its errors in `journalctl -u hikyaku`, and the
# running one kept. `hikyaku backlog lookup` lists a project's issue types, priorities and
# statuses, the names used below.
")
file(WRITE "${HIKYAKU_GENERATED_DIR}/hikyaku.yaml" "${header}${config}")

# Installs `file` into `destination` unless a file of that name is there already.
function(install_unless_present file destination permissions)
  get_filename_component(name "${file}" NAME)
  if(EXISTS "$ENV{DESTDIR}${destination}/${name}")
    message(STATUS "Kept: $ENV{DESTDIR}${destination}/${name} (already present)")
    return()
  endif()
  file(INSTALL "${file}" DESTINATION "${destination}" FILE_PERMISSIONS ${permissions})
endfunction()
install_unless_present("${HIKYAKU_GENERATED_DIR}/hikyaku.yaml" "${sysconfdir}/hikyaku"
  "OWNER_READ;OWNER_WRITE;GROUP_READ;WORLD_READ")
# The API key goes in here: root only.
configure_file("${HIKYAKU_PACKAGING_DIR}/default-hikyaku" "${HIKYAKU_GENERATED_DIR}/hikyaku"
  COPYONLY)
install_unless_present("${HIKYAKU_GENERATED_DIR}/hikyaku" "${sysconfdir}/default"
  "OWNER_READ;OWNER_WRITE")
